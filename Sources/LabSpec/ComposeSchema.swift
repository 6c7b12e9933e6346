/// Which keys of the Compose specification Stormlab reads, and which it knows but ignores.
///
/// A key in neither list is not Compose at all and is an error with a "did you mean"; a key in
/// `unsupported` is a warning, since the file is valid Compose that the process runtime cannot
/// honour. Keys starting with `x-` are extensions and are skipped, except `x-stormlab`.
struct KeySet {
    var supported: [String]
    var unsupported: [String]

    var all: [String] { supported + unsupported }

    static let topLevel = KeySet(
        supported: ["name", "services", "networks", "volumes"],
        unsupported: ["version", "include", "configs", "secrets", "models"])

    static let service = KeySet(
        supported: [
            "image", "command", "entrypoint", "environment", "env_file", "deploy", "depends_on",
            "healthcheck", "ports", "expose", "restart", "networks", "labels", "stop_signal",
            "stop_grace_period",
        ],
        unsupported: [
            "annotations", "attach", "blkio_config", "build", "cap_add", "cap_drop", "cgroup",
            "cgroup_parent", "configs", "container_name", "cpu_count", "cpu_percent", "cpu_period",
            "cpu_quota", "cpu_rt_period", "cpu_rt_runtime", "cpu_shares", "cpus", "cpuset",
            "credential_spec", "develop", "device_cgroup_rules", "devices", "dns", "dns_opt",
            "dns_search", "domainname", "driver_opts", "extends", "external_links", "extra_hosts",
            "gpus", "group_add", "hostname", "init", "ipc", "isolation", "label_file", "links",
            "logging", "mac_address", "mem_limit", "mem_reservation", "mem_swappiness",
            "memswap_limit", "models", "network_mode", "oom_kill_disable", "oom_score_adj", "pid",
            "pids_limit", "platform", "post_start", "pre_stop", "privileged", "profiles",
            "provider", "pull_policy", "read_only", "runtime", "scale", "secrets", "security_opt",
            "shm_size", "stdin_open", "storage_opt", "sysctls", "tmpfs", "tty", "ulimits",
            "use_api_socket", "user", "userns_mode", "uts", "volumes", "volumes_from",
            "working_dir",
        ])

    static let deploy = KeySet(
        supported: ["replicas"],
        unsupported: [
            "mode", "endpoint_mode", "labels", "placement", "resources", "restart_policy",
            "rollback_config", "update_config",
        ])

    static let healthCheck = KeySet(
        supported: ["test", "interval", "timeout", "retries", "start_period", "start_interval", "disable"],
        unsupported: [])

    static let dependency = KeySet(supported: ["condition", "required"], unsupported: ["restart"])

    static let port = KeySet(
        supported: ["target", "published", "protocol", "host_ip"],
        unsupported: ["mode", "name", "app_protocol"])

    static let envFile = KeySet(supported: ["path", "required"], unsupported: ["format"])

    static let serviceNetwork = KeySet(
        supported: [],
        unsupported: [
            "aliases", "ipv4_address", "ipv6_address", "link_local_ips", "mac_address",
            "driver_opts", "priority", "gw_priority", "interface_name",
        ])

    static let network = KeySet(
        supported: [],
        unsupported: [
            "driver", "driver_opts", "attachable", "enable_ipv4", "enable_ipv6", "external",
            "internal", "ipam", "labels", "name",
        ])

    static let volume = KeySet(
        supported: [], unsupported: ["driver", "driver_opts", "external", "labels", "name"])

    static let stormlab = KeySet(
        supported: ["executable", "notify", "watchdog", "socket-activation", "metrics"],
        unsupported: [])

    static let activatedSocket = KeySet(supported: ["port", "protocol", "name"], unsupported: [])

    static let metrics = KeySet(supported: ["port", "path"], unsupported: [])
}
