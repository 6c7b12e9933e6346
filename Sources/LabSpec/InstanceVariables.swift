/// The per-instance variables a runtime sets for every instance, and that a compose file may use
/// in `command`, `entrypoint` and `environment` as `${NAME}`.
///
/// Compose interpolates `${VAR}` once, from the host environment, when the file is loaded; these
/// names are the exception: the loader keeps `${STORMLAB_ADDRESS}` (and the others) as written,
/// whatever the host environment says, and the runtime expands them for each instance at start.
/// So `--listen ${STORMLAB_ADDRESS}:7200` gives every supernode its own address. Only the plain
/// `${NAME}` and `$NAME` forms are meant for them; a default (`${STORMLAB_INDEX:-1}`) is ignored.
public enum InstanceVariables {
    /// The instance's name, `SERVICE-N`.
    public static let instance = "STORMLAB_INSTANCE"
    /// The service's name.
    public static let service = "STORMLAB_SERVICE"
    /// The instance's number N, from 1.
    public static let index = "STORMLAB_INDEX"
    /// The instance's own address (`127.x.y.z` under the process runtime).
    public static let address = "STORMLAB_ADDRESS"
    /// The address the other instances reach this one at: its own, or the fault proxy's for it
    /// when the run routes traffic through the proxy. For a server's advertised address.
    public static let advertise = "STORMLAB_ADVERTISE"
    /// The run's id.
    public static let run = "STORMLAB_RUN"

    /// Every per-instance variable name.
    public static let names: Set<String> = [instance, service, index, address, advertise, run]

    /// The interpolation lookup the loader uses: the per-instance names stay as `${NAME}`, every
    /// other name comes from `variables`.
    static func lookup(_ variables: [String: String]) -> @Sendable (String) -> String? {
        { name in names.contains(name) ? "${\(name)}" : variables[name] }
    }
}
