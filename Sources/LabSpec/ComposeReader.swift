import Yams

/// The validation pass over one compose file: reads every key into the model and collects every
/// problem, then cross-checks the services against each other.
struct ComposeReader {
    private var yaml: YAMLReading
    private let folder: String
    /// Where each published port came from, for the duplicate check.
    private var publishedPorts: [(service: String, port: PortMapping, node: Node)] = []
    /// Where each service's network references are, for the undefined-network check.
    private var networkReferences: [(service: String, network: String, node: Node)] = []

    init(file: String, text: String, variables: [String: String]) {
        yaml = YAMLReading(file: file, text: text, variables: variables)
        folder = SourceFile.folder(of: file)
    }

    var diagnostics: [Diagnostic] { yaml.diagnostics }

    // MARK: Top level

    mutating func project(root: Node, defaultName: String) -> ComposeProject? {
        guard let entries = yaml.entries(root, path: "the compose file") else {
            if YAMLReading.isNull(root) { yaml.error("the compose file is empty", at: root) }
            return nil
        }
        yaml.checkKeys(entries, against: .topLevel, path: nil)
        let value = { (key: String) in entries.first { $0.key == key } }

        var name = defaultName
        if let entry = value("name"), let given = yaml.string(entry.value, path: "name") {
            if Self.isValidProjectName(given) {
                name = given
            } else {
                yaml.error(
                    "name must be lowercase letters, digits, \"_\" and \"-\", starting with a letter or digit, found \"\(given)\"",
                    at: entry.value)
            }
        }
        let networks = definitions(value("networks"), path: "networks", keys: .network)
        let volumes = definitions(value("volumes"), path: "volumes", keys: .volume)

        var services: [ServiceSpec] = []
        if let entry = value("services"), let serviceEntries = yaml.entries(entry.value, path: "services") {
            for serviceEntry in serviceEntries {
                if let service = service(serviceEntry) { services.append(service) }
            }
            if serviceEntries.isEmpty { yaml.error("services is empty: a lab needs at least one service", at: entry.value) }
        } else if value("services") == nil {
            yaml.error("the compose file has no \"services\"", at: root)
        }

        checkDependencies(services)
        checkPublishedPorts(services)
        var usesDefault = false
        for reference in networkReferences {
            if reference.network == "default" {
                usesDefault = true
            } else if !networks.contains(reference.network) {
                yaml.error(
                    "services.\(reference.service) uses network \"\(reference.network)\", which is not declared under the top-level networks",
                    at: reference.node)
            }
        }
        let graph = DependencyGraph(services)
        let cycles = graph.cycles()
        yaml.diagnostics += cycles.map(\.diagnostic)
        let ordered = graph.order().map { services[$0] }
        return ComposeProject(
            name: name, file: yaml.file, services: ordered,
            networks: networks + (usesDefault && !networks.contains("default") ? ["default"] : []),
            volumes: volumes)
    }

    static func isValidProjectName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first.isLowercaseAlphanumeric else { return false }
        return name.unicodeScalars.allSatisfy { $0.isLowercaseAlphanumeric || $0 == "_" || $0 == "-" }
    }

    /// The names of top-level `networks` or `volumes`; their settings are reported as ignored.
    private mutating func definitions(_ entry: YAMLReading.Entry?, path: String, keys: KeySet) -> [String] {
        guard let entry, let definitions = yaml.entries(entry.value, path: path) else { return [] }
        for definition in definitions where !YAMLReading.isNull(definition.value) {
            if let settings = yaml.entries(definition.value, path: "\(path).\(definition.key)") {
                yaml.checkKeys(settings, against: keys, path: "\(path).\(definition.key)")
            }
        }
        return definitions.map(\.key)
    }

    // MARK: Services

    private mutating func service(_ entry: YAMLReading.Entry) -> ServiceSpec? {
        let name = entry.key
        let path = "services.\(name)"
        if !Self.isValidServiceName(name) {
            yaml.error(
                "invalid service name \"\(name)\": use letters, digits, \"_\", \".\" and \"-\", starting with a letter or digit",
                at: entry.keyNode)
        }
        var service = ServiceSpec(name: name, location: yaml.location(of: entry.keyNode))
        let entries: [YAMLReading.Entry]
        if YAMLReading.isNull(entry.value) {
            entries = []
        } else if let read = yaml.entries(entry.value, path: path) {
            entries = read
        } else {
            return nil
        }
        yaml.checkKeys(entries, against: .service, path: path)
        var environment: [String: String] = [:]
        var stormlabEntry: YAMLReading.Entry?
        var networksNode: Node?

        for item in entries {
            let keyPath = "\(path).\(item.key)"
            let node = item.value
            switch item.key {
            case "image": service.image = yaml.string(node, path: keyPath)
            case "command": service.command = yaml.commandLine(node, path: keyPath)
            case "entrypoint": service.entrypoint = yaml.commandLine(node, path: keyPath)
            case "env_file":
                for (key, value) in envFiles(node, path: keyPath) { environment[key] = value }
            case "deploy": service.replicas = deploy(node, path: keyPath) ?? 1
            case "depends_on": service.dependsOn = dependencies(node, path: keyPath)
            case "healthcheck": service.healthCheck = healthCheck(node, path: keyPath)
            case "ports": service.ports = ports(node, path: keyPath, service: name)
            case "expose": service.expose = expose(node, path: keyPath)
            case "restart":
                guard let text = yaml.string(node, path: keyPath) else { break }
                if let policy = RestartPolicy(compose: text) {
                    service.restart = policy
                } else {
                    yaml.error(
                        "\(keyPath) must be \"no\", \"always\", \"on-failure\", \"on-failure:N\" or \"unless-stopped\", found \"\(text)\"",
                        at: node)
                }
            case "networks": networksNode = node
            case "labels":
                for pair in yaml.keyValues(node, path: keyPath) ?? [] { service.labels[pair.key] = pair.value ?? "" }
            case "stop_signal":
                guard let text = yaml.string(node, path: keyPath) else { break }
                if let signal = Self.signal(text) {
                    service.stop.signal = signal
                } else {
                    yaml.error("\(keyPath) must be a signal name like SIGTERM or a number, found \"\(text)\"", at: node)
                }
            case "stop_grace_period":
                if let period = yaml.duration(node, path: keyPath) { service.stop.gracePeriod = period }
            case "x-stormlab": stormlabEntry = item
            default: break
            }
        }
        // `environment` wins over `env_file`, whatever their order in the file.
        if let item = entries.first(where: { $0.key == "environment" }) {
            for pair in yaml.keyValues(item.value, path: "\(path).environment") ?? [] {
                if let value = pair.value ?? yaml.variables[pair.key] { environment[pair.key] = value }
            }
        }
        service.environment = environment
        service.networks = networks(networksNode, path: "\(path).networks", service: name)
        service.stormlab = stormlab(stormlabEntry?.value, path: "\(path).x-stormlab", service: service)
        if service.image == nil && service.stormlab.executable.isEmpty && !entries.contains(where: { $0.key == "image" }) {
            yaml.error("\(path) has no \"image\"; give one, or x-stormlab.executable for the process runtime", at: entry.keyNode)
        }
        if service.replicas > 1, let fixed = service.ports.first(where: { $0.published != nil }), let published = fixed.published {
            let node = entries.first { $0.key == "ports" }?.keyNode ?? entry.keyNode
            yaml.warning(
                "\(path) publishes fixed port \(published)/\(fixed.protocol.rawValue) but has \(service.replicas) replicas; only one instance can bind it",
                at: node)
        }
        return service
    }

    static func isValidServiceName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first.isASCIIAlphanumeric else { return false }
        return name.unicodeScalars.allSatisfy { $0.isASCIIAlphanumeric || "_.-".unicodeScalars.contains($0) }
    }

    private static let signalNames: Set<String> = [
        "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "IOT", "BUS", "FPE", "KILL", "USR1", "SEGV",
        "USR2", "PIPE", "ALRM", "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU",
        "URG", "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO", "POLL", "PWR", "SYS",
    ]

    /// `SIGTERM`, `TERM` and `sigterm` all give `SIGTERM`; numbers 1–64 stay numbers.
    static func signal(_ text: String) -> String? {
        if let number = Int(text) { return (1...64).contains(number) ? String(number) : nil }
        var name = text.uppercased()
        if name.hasPrefix("SIG") { name.removeFirst(3) }
        return signalNames.contains(name) ? "SIG" + name : nil
    }

    private mutating func deploy(_ node: Node, path: String) -> Int? {
        guard let entries = yaml.entries(node, path: path) else { return nil }
        yaml.checkKeys(entries, against: .deploy, path: path)
        guard let replicas = entries.first(where: { $0.key == "replicas" }),
            let count = yaml.int(replicas.value, path: "\(path).replicas")
        else { return nil }
        guard count >= 0 else {
            yaml.error("\(path).replicas must be 0 or more, found \(count)", at: replicas.value)
            return nil
        }
        return count
    }

    private mutating func envFiles(_ node: Node, path: String) -> [(String, String)] {
        var files: [(path: String, required: Bool, node: Node)] = []
        if case .sequence = node {
            for (index, item) in (yaml.list(node, path: path) ?? []).enumerated() {
                let itemPath = "\(path)[\(index)]"
                if case .mapping = item {
                    guard let entries = yaml.entries(item, path: itemPath) else { continue }
                    yaml.checkKeys(entries, against: .envFile, path: itemPath)
                    guard let pathEntry = entries.first(where: { $0.key == "path" }) else {
                        yaml.error("\(itemPath) has no \"path\"", at: item)
                        continue
                    }
                    let required = entries.first { $0.key == "required" }.flatMap { yaml.bool($0.value, path: "\(itemPath).required") }
                    if let file = yaml.string(pathEntry.value, path: "\(itemPath).path") {
                        files.append((file, required ?? true, pathEntry.value))
                    }
                } else if let file = yaml.string(item, path: itemPath) {
                    files.append((file, true, item))
                }
            }
        } else if let file = yaml.string(node, path: path) {
            files.append((file, true, node))
        }
        var values: [(String, String)] = []
        for file in files {
            let resolved = SourceFile.resolve(file.path, in: folder)
            switch SourceFile.read(resolved) {
            case .failure(let failure):
                if file.required {
                    yaml.error("cannot read env file \"\(file.path)\": \(failure.reason)", at: file.node)
                }
            case .success(let text):
                let env = DotEnv(text: text, file: resolved) { [variables = yaml.variables] in variables[$0] }
                yaml.diagnostics += env.diagnostics
                values += env.entries.map { ($0.key, $0.value) }
            }
        }
        return values
    }

    private mutating func dependencies(_ node: Node, path: String) -> [ServiceDependency] {
        if case .sequence = node {
            var dependencies: [ServiceDependency] = []
            for (index, item) in (yaml.list(node, path: path) ?? []).enumerated() {
                if let name = yaml.string(item, path: "\(path)[\(index)]") {
                    dependencies.append(ServiceDependency(service: name, location: yaml.location(of: item)))
                }
            }
            return dependencies
        }
        if case .scalar = node, !YAMLReading.isNull(node) {
            yaml.error("\(path) must be a list or a mapping, found \(YAMLReading.found(node))", at: node)
            return []
        }
        var dependencies: [ServiceDependency] = []
        for entry in yaml.entries(node, path: path) ?? [] {
            let entryPath = "\(path).\(entry.key)"
            var dependency = ServiceDependency(service: entry.key, location: yaml.location(of: entry.keyNode))
            if let settings = yaml.entries(entry.value, path: entryPath) {
                yaml.checkKeys(settings, against: .dependency, path: entryPath)
                for setting in settings {
                    switch setting.key {
                    case "condition":
                        guard let text = yaml.string(setting.value, path: "\(entryPath).condition") else { continue }
                        if let condition = ServiceDependency.Condition(rawValue: text) {
                            dependency.condition = condition
                        } else {
                            yaml.error(
                                "\(entryPath).condition must be service_started, service_healthy or service_completed_successfully, found \"\(text)\"",
                                at: setting.value)
                        }
                    case "required":
                        if let required = yaml.bool(setting.value, path: "\(entryPath).required") {
                            dependency.required = required
                        }
                    default: break
                    }
                }
            }
            dependencies.append(dependency)
        }
        return dependencies
    }

    private mutating func healthCheck(_ node: Node, path: String) -> HealthCheck? {
        guard let entries = yaml.entries(node, path: path) else { return nil }
        yaml.checkKeys(entries, against: .healthCheck, path: path)
        var check = HealthCheck(test: .none)
        var test: HealthCheck.Test?
        var disabled = false
        var retriesNode: Node?
        for entry in entries {
            let keyPath = "\(path).\(entry.key)"
            switch entry.key {
            case "test": test = healthCheckTest(entry.value, path: keyPath)
            case "disable": disabled = yaml.bool(entry.value, path: keyPath) ?? false
            case "interval": check.interval = yaml.duration(entry.value, path: keyPath) ?? check.interval
            case "timeout": check.timeout = yaml.duration(entry.value, path: keyPath) ?? check.timeout
            case "start_period": check.startPeriod = yaml.duration(entry.value, path: keyPath) ?? check.startPeriod
            case "start_interval": check.startInterval = yaml.duration(entry.value, path: keyPath) ?? check.startInterval
            case "retries":
                retriesNode = entry.value
                check.retries = yaml.int(entry.value, path: keyPath) ?? check.retries
            default: break
            }
        }
        if let retriesNode, check.retries < 0 {
            yaml.error("\(path).retries must be 0 or more, found \(check.retries)", at: retriesNode)
        }
        if disabled {
            if let test, test != .none {
                yaml.error("\(path) has both a test and disable: true", at: node)
            }
            return check
        }
        guard let test else {
            if !entries.contains(where: { $0.key == "test" }) {
                yaml.warning(
                    "\(path) has no test; the process runtime has no image healthcheck to inherit, so it is ignored",
                    at: node)
            }
            return nil
        }
        check.test = test
        return check
    }

    private mutating func healthCheckTest(_ node: Node, path: String) -> HealthCheck.Test? {
        guard case .sequence = node else {
            if case .mapping = node {
                yaml.error("\(path) must be a string or a list, found a mapping", at: node)
                return nil
            }
            guard let command = yaml.string(node, path: path) else { return nil }
            return .shell(command: command)
        }
        guard let words = yaml.strings(node, path: path) else { return nil }
        switch words.first {
        case "NONE" where words.count == 1:
            return HealthCheck.Test.none
        case "CMD" where words.count > 1:
            return .exec(arguments: Array(words.dropFirst()))
        case "CMD-SHELL" where words.count == 2:
            return .shell(command: words[1])
        case "NONE":
            yaml.error("\(path) [\"NONE\"] takes no arguments", at: node)
        case "CMD":
            yaml.error("\(path) [\"CMD\", ...] needs a command after \"CMD\"", at: node)
        case "CMD-SHELL":
            yaml.error("\(path) [\"CMD-SHELL\", ...] needs exactly one command string", at: node)
        default:
            yaml.error(
                "\(path) must start with \"CMD\", \"CMD-SHELL\" or \"NONE\", found \(words.first.map { "\"\($0)\"" } ?? "an empty list")",
                at: node)
        }
        return nil
    }

    // MARK: Ports

    private mutating func ports(_ node: Node, path: String, service: String) -> [PortMapping] {
        var mappings: [PortMapping] = []
        for (index, item) in (yaml.list(node, path: path) ?? []).enumerated() {
            let itemPath = "\(path)[\(index)]"
            var parsed: [PortMapping] = []
            if case .mapping = item {
                parsed = longPort(item, path: itemPath)
            } else if let text = yaml.string(item, path: itemPath) {
                switch PortSyntax.parse(text, publishing: true) {
                case .success(let ports): parsed = ports
                case .failure(let failure):
                    yaml.error("invalid port \"\(text)\" in \(path): \(failure.reason)", at: item)
                }
            }
            for port in parsed where port.published != nil { publishedPorts.append((service, port, item)) }
            mappings += parsed
        }
        return mappings
    }

    private mutating func longPort(_ node: Node, path: String) -> [PortMapping] {
        guard let entries = yaml.entries(node, path: path) else { return [] }
        yaml.checkKeys(entries, against: .port, path: path)
        let value = { (key: String) in entries.first { $0.key == key } }
        guard let targetEntry = value("target") else {
            yaml.error("\(path) has no \"target\"", at: node)
            return []
        }
        guard let targetText = yaml.string(targetEntry.value, path: "\(path).target") else { return [] }
        guard let target = PortSyntax.number(targetText) else {
            yaml.error("\(path).target must be a port number (1-65535), found \"\(targetText)\"", at: targetEntry.value)
            return []
        }
        var mapping = PortMapping(target: target)
        if let entry = value("published"), let text = yaml.string(entry.value, path: "\(path).published"), !text.isEmpty {
            if let published = PortSyntax.number(text) {
                mapping.published = published
            } else {
                yaml.error("\(path).published must be a port number (1-65535), found \"\(text)\"", at: entry.value)
            }
        }
        if let entry = value("host_ip"), let text = yaml.string(entry.value, path: "\(path).host_ip"), !text.isEmpty {
            if PortSyntax.isIPAddress(text) {
                mapping.hostIP = text
            } else {
                yaml.error("\(path).host_ip must be an IP address, found \"\(text)\"", at: entry.value)
            }
        }
        if let entry = value("protocol"), let text = yaml.string(entry.value, path: "\(path).protocol") {
            if let proto = PortProtocol(rawValue: text.lowercased()) {
                mapping.protocol = proto
            } else {
                yaml.error("\(path).protocol must be tcp, udp or sctp, found \"\(text)\"", at: entry.value)
            }
        }
        return [mapping]
    }

    private mutating func expose(_ node: Node, path: String) -> [PortMapping] {
        var ports: [PortMapping] = []
        for (index, item) in (yaml.list(node, path: path) ?? []).enumerated() {
            guard let text = yaml.string(item, path: "\(path)[\(index)]") else { continue }
            switch PortSyntax.parse(text, publishing: false) {
            case .success(let parsed): ports += parsed
            case .failure(let failure): yaml.error("invalid port \"\(text)\" in \(path): \(failure.reason)", at: item)
            }
        }
        return ports
    }

    // MARK: Networks

    private mutating func networks(_ node: Node?, path: String, service: String) -> [String] {
        guard let node, !YAMLReading.isNull(node) else {
            networkReferences.append((service, "default", .scalar(.init("default"))))
            return ["default"]
        }
        var names: [String] = []
        if case .sequence = node {
            for (index, item) in (yaml.list(node, path: path) ?? []).enumerated() {
                if let name = yaml.string(item, path: "\(path)[\(index)]") {
                    names.append(name)
                    networkReferences.append((service, name, item))
                }
            }
            return names
        }
        if case .scalar = node {
            yaml.error("\(path) must be a list or a mapping, found \(YAMLReading.found(node))", at: node)
            return []
        }
        for entry in yaml.entries(node, path: path) ?? [] {
            names.append(entry.key)
            networkReferences.append((service, entry.key, entry.keyNode))
            if let settings = yaml.entries(entry.value, path: "\(path).\(entry.key)") {
                yaml.checkKeys(settings, against: .serviceNetwork, path: "\(path).\(entry.key)")
            }
        }
        return names
    }

    // MARK: x-stormlab

    private mutating func stormlab(_ node: Node?, path: String, service: ServiceSpec) -> StormlabExtension {
        var stormlab = StormlabExtension(
            executable: service.image.map(StormlabExtension.defaultExecutable(forImage:)) ?? [])
        guard let node, let entries = yaml.entries(node, path: path) else { return stormlab }
        yaml.checkKeys(entries, against: .stormlab, path: path)
        for entry in entries {
            let keyPath = "\(path).\(entry.key)"
            switch entry.key {
            case "executable":
                guard let words = yaml.commandLine(entry.value, path: keyPath) else { continue }
                if words.isEmpty || words[0].isEmpty {
                    yaml.error("\(keyPath) must name an executable", at: entry.value)
                } else {
                    stormlab.executable = words
                }
            case "notify": stormlab.notify = yaml.bool(entry.value, path: keyPath) ?? false
            case "watchdog":
                guard let interval = yaml.duration(entry.value, path: keyPath) else { continue }
                if interval <= .zero {
                    yaml.error("\(keyPath) must be longer than 0", at: entry.value)
                } else {
                    stormlab.watchdog = interval
                }
            case "socket-activation":
                stormlab.socketActivation = activatedSockets(entry.value, path: keyPath, service: service)
            case "metrics": stormlab.metrics = metrics(entry.value, path: keyPath)
            default: break
            }
        }
        return stormlab
    }

    private mutating func activatedSockets(_ node: Node, path: String, service: ServiceSpec) -> [ActivatedSocket] {
        var sockets: [ActivatedSocket] = []
        for (index, item) in (yaml.list(node, path: path) ?? []).enumerated() {
            let itemPath = "\(path)[\(index)]"
            var socket: ActivatedSocket?
            if case .mapping = item {
                guard let entries = yaml.entries(item, path: itemPath) else { continue }
                yaml.checkKeys(entries, against: .activatedSocket, path: itemPath)
                guard let portEntry = entries.first(where: { $0.key == "port" }) else {
                    yaml.error("\(itemPath) has no \"port\"", at: item)
                    continue
                }
                guard let text = yaml.string(portEntry.value, path: "\(itemPath).port") else { continue }
                guard let port = PortSyntax.number(text) else {
                    yaml.error("\(itemPath).port must be a port number (1-65535), found \"\(text)\"", at: portEntry.value)
                    continue
                }
                var proto = PortProtocol.tcp
                if let entry = entries.first(where: { $0.key == "protocol" }),
                    let text = yaml.string(entry.value, path: "\(itemPath).protocol")
                {
                    guard let parsed = PortProtocol(rawValue: text.lowercased()), parsed != .sctp else {
                        yaml.error("\(itemPath).protocol must be tcp or udp, found \"\(text)\"", at: entry.value)
                        continue
                    }
                    proto = parsed
                }
                var name: String?
                if let entry = entries.first(where: { $0.key == "name" }),
                    let text = yaml.string(entry.value, path: "\(itemPath).name")
                {
                    guard Self.isValidFDName(text) else {
                        yaml.error(
                            "\(itemPath).name must be 1 to 255 printable ASCII characters without \":\", found \"\(text)\"",
                            at: entry.value)
                        continue
                    }
                    name = text
                }
                socket = ActivatedSocket(port: port, protocol: proto, name: name)
            } else if let text = yaml.string(item, path: itemPath) {
                switch PortSyntax.parse(text, publishing: false) {
                case .success(let ports) where ports.count == 1 && ports[0].protocol != .sctp:
                    socket = ActivatedSocket(port: ports[0].target, protocol: ports[0].protocol)
                case .success:
                    yaml.error("\(itemPath) must be one TCP or UDP port, found \"\(text)\"", at: item)
                case .failure(let failure):
                    yaml.error("invalid port \"\(text)\" in \(path): \(failure.reason)", at: item)
                }
            }
            guard let socket else { continue }
            let declared = (service.ports + service.expose).contains {
                $0.target == socket.port && $0.protocol == socket.protocol
            }
            if !declared {
                yaml.error(
                    "\(itemPath): port \(socket.port)/\(socket.protocol.rawValue) is not among the ports or expose of services.\(service.name)",
                    at: item)
            } else if sockets.contains(where: { $0.port == socket.port && $0.protocol == socket.protocol }) {
                yaml.error("\(itemPath): port \(socket.port)/\(socket.protocol.rawValue) is listed twice", at: item)
            } else if sockets.contains(where: { $0.name == socket.name }) {
                yaml.error("\(itemPath): the name \"\(socket.name)\" is used twice", at: item)
            } else {
                sockets.append(socket)
            }
        }
        return sockets
    }

    static func isValidFDName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 255
            && name.unicodeScalars.allSatisfy { $0.isASCII && $0.value > 32 && $0.value < 127 && $0 != ":" }
    }

    private mutating func metrics(_ node: Node, path: String) -> MetricsEndpoint? {
        guard let entries = yaml.entries(node, path: path) else { return nil }
        yaml.checkKeys(entries, against: .metrics, path: path)
        guard let portEntry = entries.first(where: { $0.key == "port" }) else {
            yaml.error("\(path) has no \"port\"", at: node)
            return nil
        }
        guard let text = yaml.string(portEntry.value, path: "\(path).port") else { return nil }
        guard let port = PortSyntax.number(text) else {
            yaml.error("\(path).port must be a port number (1-65535), found \"\(text)\"", at: portEntry.value)
            return nil
        }
        var endpoint = MetricsEndpoint(port: port)
        if let entry = entries.first(where: { $0.key == "path" }), let text = yaml.string(entry.value, path: "\(path).path") {
            if text.hasPrefix("/") {
                endpoint.path = text
            } else {
                yaml.error("\(path).path must start with \"/\", found \"\(text)\"", at: entry.value)
            }
        }
        return endpoint
    }

    // MARK: Cross-checks

    private mutating func checkDependencies(_ services: [ServiceSpec]) {
        let byName = Dictionary(services.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        for service in services {
            for dependency in service.dependsOn {
                guard let target = byName[dependency.service] else {
                    if dependency.required {
                        yaml.diagnostics.append(
                            Diagnostic(
                                .error, at: dependency.location,
                                "services.\(service.name) depends on undefined service \"\(dependency.service)\""))
                    } else {
                        yaml.diagnostics.append(
                            Diagnostic(
                                .warning, at: dependency.location,
                                "services.\(service.name) depends on undefined service \"\(dependency.service)\"; it is not required, so the dependency is ignored"
                            ))
                    }
                    continue
                }
                guard dependency.condition == .serviceHealthy, !target.stormlab.notify else { continue }
                if target.healthCheck == nil || target.healthCheck?.isDisabled == true {
                    let what = target.healthCheck == nil ? "has no healthcheck" : "has its healthcheck disabled"
                    yaml.diagnostics.append(
                        Diagnostic(
                            .error, at: dependency.location,
                            "services.\(service.name) waits for \"\(target.name)\" to be healthy, but \"\(target.name)\" \(what) (and no x-stormlab.notify)"
                        ))
                }
            }
        }
    }

    private mutating func checkPublishedPorts(_ services: [ServiceSpec]) {
        var seen: [(service: String, port: PortMapping)] = []
        for entry in publishedPorts {
            guard let published = entry.port.published else { continue }
            let clash = seen.first { earlier in
                guard earlier.port.published == published, earlier.port.protocol == entry.port.protocol else { return false }
                let wildcard: Set<String?> = [nil, "0.0.0.0", "::"]
                return wildcard.contains(earlier.port.hostIP) || wildcard.contains(entry.port.hostIP)
                    || earlier.port.hostIP == entry.port.hostIP
            }
            if let clash {
                let owner = "services.\(clash.service)"
                yaml.error(
                    "published port \(published)/\(entry.port.protocol.rawValue) of services.\(entry.service) is already published by \(owner)",
                    at: entry.node)
            } else {
                seen.append((entry.service, entry.port))
            }
        }
    }
}

extension Unicode.Scalar {
    fileprivate var isLowercaseAlphanumeric: Bool { ("a"..."z").contains(self) || ("0"..."9").contains(self) }
    fileprivate var isASCIIAlphanumeric: Bool { isLowercaseAlphanumeric || ("A"..."Z").contains(self) }
}
