#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import NIOCore

/// What the engine says about itself (`GET /version`).
public struct EngineVersion: Sendable, Hashable {
    /// The engine's release, for example `20.10.24+dfsg1`.
    public var version: String
    /// The newest API version the engine speaks, for example `1.41`.
    public var apiVersion: String
    /// The oldest API version the engine still accepts, when it says.
    public var minimumAPIVersion: String?
    /// The engine's operating system, `linux` here.
    public var os: String
    /// The engine's CPU architecture, for example `amd64`.
    public var architecture: String?
    /// The kernel the engine runs on.
    public var kernelVersion: String?

    /// Makes a version record.
    public init(
        version: String,
        apiVersion: String,
        minimumAPIVersion: String? = nil,
        os: String,
        architecture: String? = nil,
        kernelVersion: String? = nil
    ) {
        self.version = version
        self.apiVersion = apiVersion
        self.minimumAPIVersion = minimumAPIVersion
        self.os = os
        self.architecture = architecture
        self.kernelVersion = kernelVersion
    }
}

/// A local image (`GET /images/{name}/json`).
public struct ImageInfo: Sendable, Hashable {
    /// The image id, `sha256:…`.
    public var id: String
    /// The image's size in bytes.
    public var size: Int64
    /// The image's labels (`LABEL` in its Dockerfile).
    public var labels: [String: String]
    /// The `repository:tag` names that point at the image.
    public var tags: [String]
}

/// A container attached to a network, as the network's inspection lists it.
public struct NetworkEndpoint: Sendable, Hashable {
    /// The container's name (without the leading `/`).
    public var name: String
    /// The container's IPv4 address on the network, without the prefix length.
    public var ipv4Address: String?
    /// The container's MAC address on the network.
    public var macAddress: String?
}

/// A network (`GET /networks/{id}` and `GET /networks`).
public struct NetworkInfo: Sendable, Hashable {
    /// The network id (64 hex digits).
    public var id: String
    /// The network's name.
    public var name: String
    /// The driver, `bridge` for the networks Stormlab makes.
    public var driver: String
    /// Whether the network is cut off from the outside (`--internal`).
    public var isInternal: Bool
    /// The network's labels.
    public var labels: [String: String]
    /// The subnets of the network's IPAM configuration, in CIDR notation.
    public var subnets: [String]
    /// The gateways of the network's IPAM configuration.
    public var gateways: [String]
    /// The host's bridge interface for a bridge network: the `com.docker.network.bridge.name`
    /// option when it was set, else the engine's default `br-` followed by the id's first 12
    /// digits; `nil` for other drivers.
    public var bridgeName: String?
    /// The attached containers by container id. Only ``DockerEngine/inspectNetwork(_:)`` fills
    /// this in; the engine's network list leaves it empty.
    public var containers: [String: NetworkEndpoint]
}

/// A container's state and addresses (`GET /containers/{id}/json`).
public struct ContainerInfo: Sendable, Hashable {
    /// The container id (64 hex digits).
    public var id: String
    /// The container's name, without the leading `/`.
    public var name: String
    /// The image the container was created from, as it was named.
    public var image: String
    /// Whether the container's process is running (also while paused).
    public var running: Bool
    /// Whether the container is frozen.
    public var paused: Bool
    /// The engine's state word: `created`, `running`, `paused`, `restarting`, `removing`,
    /// `exited` or `dead`.
    public var status: String
    /// The host pid of the container's PID 1; 0 when it is not running.
    public var pid: Int32
    /// The exit code of the last run; 137 after SIGKILL.
    public var exitCode: Int
    /// Whether the kernel's OOM killer ended the last run.
    public var oomKilled: Bool
    /// `starting`, `healthy` or `unhealthy` for a container with a healthcheck; `nil` without.
    public var health: String?
    /// When the last run started (RFC 3339 with nanoseconds; `0001-01-01T00:00:00Z` if never).
    public var startedAt: String
    /// When the last run ended (RFC 3339 with nanoseconds; `0001-01-01T00:00:00Z` if never).
    public var finishedAt: String
    /// The engine's error for the last start, empty if none.
    public var error: String
    /// The container's IPv4 address on each network it is attached to, by network name.
    public var ipAddresses: [String: String]
    /// The container's labels.
    public var labels: [String: String]
}

/// One container of a list (`GET /containers/json`).
public struct ContainerSummary: Sendable, Hashable {
    /// The container id (64 hex digits).
    public var id: String
    /// The container's name, without the leading `/`.
    public var name: String
    /// The image the container was created from, as it was named.
    public var image: String
    /// The engine's state word: `created`, `running`, `paused`, `exited`, …
    public var state: String
    /// The engine's human status, for example `Up 3 seconds (healthy)`.
    public var status: String
    /// The container's labels.
    public var labels: [String: String]
}

/// One event from the engine's event stream (`GET /events`).
public struct DockerEvent: Sendable, Hashable {
    /// What the event is about: `container`, `network`, `image`, …
    public var type: String
    /// What happened: `create`, `start`, `die`, `kill`, `pause`, `unpause`, `oom`, `destroy`,
    /// `health_status: healthy`, `exec_start: …`, …
    public var action: String
    /// The id of the object the event is about (the container id for container events).
    public var id: String
    /// The object's attributes: for containers `name`, `image`, the labels, and per action
    /// `exitCode` (die) or `signal` (kill).
    public var attributes: [String: String]
    /// When it happened, in seconds since the epoch.
    public var time: Int64
    /// When it happened, in nanoseconds since the epoch.
    public var timeNano: Int64

    /// Makes an event.
    public init(
        type: String,
        action: String,
        id: String,
        attributes: [String: String] = [:],
        time: Int64 = 0,
        timeNano: Int64 = 0
    ) {
        self.type = type
        self.action = action
        self.id = id
        self.attributes = attributes
        self.time = time
        self.timeNano = timeNano
    }
}

// MARK: - Decoding the engine's JSON

/// JSON in and out, with the engine's own key spellings.
enum WireJSON {
    static func decode<T: Decodable>(_ type: T.Type, from buffer: ByteBuffer) throws -> T {
        try JSONDecoder().decode(type, from: Data(buffer.readableBytesView))
    }

    /// Decodes a reply body, turning a failure into ``DockerError/Code/protocolViolation``.
    static func decodeReply<T: Decodable>(_ type: T.Type, from buffer: ByteBuffer, what: String) throws(DockerError)
        -> T
    {
        do {
            return try decode(type, from: buffer)
        } catch {
            let excerpt = String(buffer: buffer).prefix(200)
            throw DockerError.protocolViolation("\(what) is not the JSON expected (\(error)): \(excerpt)", cause: error)
        }
    }

    static func encode<T: Encodable>(_ value: T) -> ByteBuffer {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding plain structs of strings, numbers and dictionaries cannot fail.
        let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
        return ByteBuffer(bytes: data)
    }
}

// The engine's JSON, with its key spellings, reduced to what the public types carry. Everything is
// optional so that a field an engine leaves out (or sets to null) is not a protocol error.

struct VersionWire: Decodable {
    var Version: String?
    var ApiVersion: String?
    var MinAPIVersion: String?
    var Os: String?
    var Arch: String?
    var KernelVersion: String?
}

struct ImageWire: Decodable {
    struct Config: Decodable { var Labels: [String: String]? }
    var Id: String?
    var Size: Int64?
    var RepoTags: [String]?
    var Config: Config?
}

struct NetworkWire: Decodable {
    struct IPAM: Decodable {
        struct Pool: Decodable {
            var Subnet: String?
            var Gateway: String?
        }
        var Config: [Pool]?
    }
    struct Endpoint: Decodable {
        var Name: String?
        var IPv4Address: String?
        var MacAddress: String?
    }
    var Id: String?
    var Name: String?
    var Driver: String?
    var Internal: Bool?
    var Labels: [String: String]?
    var Options: [String: String]?
    var IPAM: IPAM?
    var Containers: [String: Endpoint]?
}

struct ContainerWire: Decodable {
    struct State: Decodable {
        struct Health: Decodable { var Status: String? }
        var Status: String?
        var Running: Bool?
        var Paused: Bool?
        var OOMKilled: Bool?
        var Pid: Int32?
        var ExitCode: Int?
        var Error: String?
        var StartedAt: String?
        var FinishedAt: String?
        var Health: Health?
    }
    struct Config: Decodable {
        var Image: String?
        var Labels: [String: String]?
    }
    struct NetworkSettings: Decodable {
        struct Endpoint: Decodable { var IPAddress: String? }
        var Networks: [String: Endpoint]?
    }
    var Id: String?
    var Name: String?
    var State: State?
    var Config: Config?
    var NetworkSettings: NetworkSettings?
}

struct ContainerSummaryWire: Decodable {
    var Id: String?
    var Names: [String]?
    var Image: String?
    var State: String?
    var Status: String?
    var Labels: [String: String]?
}

struct EventWire: Decodable {
    struct Actor: Decodable {
        var ID: String?
        var Attributes: [String: String]?
    }
    var `Type`: String?
    var Action: String?
    var Actor: Actor?
    // Pre-1.22 fields, still sent for container events.
    var status: String?
    var id: String?
    var time: Int64?
    var timeNano: Int64?
}

struct CreatedWire: Decodable {
    var Id: String?
}

extension EngineVersion {
    init(_ wire: VersionWire) throws(DockerError) {
        guard let api = wire.ApiVersion, !api.isEmpty else {
            throw DockerError.protocolViolation("the version reply has no ApiVersion")
        }
        self.init(
            version: wire.Version ?? "unknown",
            apiVersion: api,
            minimumAPIVersion: wire.MinAPIVersion,
            os: wire.Os ?? "unknown",
            architecture: wire.Arch,
            kernelVersion: wire.KernelVersion
        )
    }
}

extension ImageInfo {
    init(_ wire: ImageWire) throws(DockerError) {
        guard let id = wire.Id else { throw DockerError.protocolViolation("the image reply has no Id") }
        self.init(id: id, size: wire.Size ?? 0, labels: wire.Config?.Labels ?? [:], tags: wire.RepoTags ?? [])
    }
}

extension NetworkInfo {
    init(_ wire: NetworkWire) throws(DockerError) {
        guard let id = wire.Id, let name = wire.Name else {
            throw DockerError.protocolViolation("a network in the reply has no Id or Name")
        }
        let driver = wire.Driver ?? ""
        var bridgeName: String? = nil
        if driver == "bridge" {
            bridgeName = wire.Options?[NetworkSpec.bridgeNameOption] ?? "br-" + id.prefix(12)
        }
        var containers: [String: NetworkEndpoint] = [:]
        for (containerID, endpoint) in wire.Containers ?? [:] {
            containers[containerID] = NetworkEndpoint(
                name: endpoint.Name ?? "",
                ipv4Address: endpoint.IPv4Address.flatMap { $0.split(separator: "/").first.map(String.init) },
                macAddress: endpoint.MacAddress
            )
        }
        let pools = wire.IPAM?.Config ?? []
        self.init(
            id: id,
            name: name,
            driver: driver,
            isInternal: wire.Internal ?? false,
            labels: wire.Labels ?? [:],
            subnets: pools.compactMap(\.Subnet),
            gateways: pools.compactMap(\.Gateway),
            bridgeName: bridgeName,
            containers: containers
        )
    }
}

extension ContainerInfo {
    init(_ wire: ContainerWire) throws(DockerError) {
        guard let id = wire.Id, let state = wire.State else {
            throw DockerError.protocolViolation("the container reply has no Id or State")
        }
        var addresses: [String: String] = [:]
        for (network, endpoint) in wire.NetworkSettings?.Networks ?? [:] {
            if let address = endpoint.IPAddress, !address.isEmpty { addresses[network] = address }
        }
        self.init(
            id: id,
            name: Self.trimmedName(wire.Name ?? ""),
            image: wire.Config?.Image ?? "",
            running: state.Running ?? false,
            paused: state.Paused ?? false,
            status: state.Status ?? "",
            pid: state.Pid ?? 0,
            exitCode: state.ExitCode ?? 0,
            oomKilled: state.OOMKilled ?? false,
            health: state.Health?.Status,
            startedAt: state.StartedAt ?? "",
            finishedAt: state.FinishedAt ?? "",
            error: state.Error ?? "",
            ipAddresses: addresses,
            labels: wire.Config?.Labels ?? [:]
        )
    }

    static func trimmedName(_ name: String) -> String {
        name.hasPrefix("/") ? String(name.dropFirst()) : name
    }
}

extension ContainerSummary {
    init(_ wire: ContainerSummaryWire) throws(DockerError) {
        guard let id = wire.Id else { throw DockerError.protocolViolation("a container in the list has no Id") }
        self.init(
            id: id,
            name: ContainerInfo.trimmedName(wire.Names?.first ?? ""),
            image: wire.Image ?? "",
            state: wire.State ?? "",
            status: wire.Status ?? "",
            labels: wire.Labels ?? [:]
        )
    }
}

extension DockerEvent {
    /// Decodes one line of the event stream.
    init(line: ByteBuffer) throws(DockerError) {
        let wire = try WireJSON.decodeReply(EventWire.self, from: line, what: "an event")
        guard let action = wire.Action ?? wire.status else {
            throw DockerError.protocolViolation("an event has no Action: \(String(buffer: line).prefix(200))")
        }
        let timeNano = wire.timeNano ?? (wire.time ?? 0) * 1_000_000_000
        self.init(
            type: wire.Type ?? "container",
            action: action,
            id: wire.Actor?.ID ?? wire.id ?? "",
            attributes: wire.Actor?.Attributes ?? [:],
            time: wire.time ?? timeNano / 1_000_000_000,
            timeNano: timeNano
        )
    }
}
