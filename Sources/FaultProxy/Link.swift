/// One direction of the bytes on a proxied connection.
///
/// The client is the instance that opened the connection, the server the route's upstream
/// instance: ``upstream`` carries client→server bytes, ``downstream`` server→client bytes.
public enum Direction: Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// Client to server.
    case upstream
    /// Server to client.
    case downstream

    public var description: String {
        switch self {
        case .upstream: "upstream"
        case .downstream: "downstream"
        }
    }
}

/// A set of ``Direction``s; `.both` covers a whole connection.
public struct Directions: OptionSet, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: UInt8

    /// Makes a set from its raw bits (1 upstream, 2 downstream).
    public init(rawValue: UInt8) { self.rawValue = rawValue & 3 }

    /// Client-to-server bytes only.
    public static let upstream = Directions(rawValue: 1)
    /// Server-to-client bytes only.
    public static let downstream = Directions(rawValue: 2)
    /// Both directions: the whole connection.
    public static let both: Directions = [.upstream, .downstream]

    /// Makes the set holding one direction.
    public init(_ direction: Direction) {
        self = direction == .upstream ? .upstream : .downstream
    }

    /// Whether the set holds `direction`.
    public func contains(_ direction: Direction) -> Bool {
        self.contains(Directions(direction))
    }

    public var description: String {
        switch self.rawValue {
        case 1: "upstream"
        case 2: "downstream"
        case 3: "both"
        default: "none"
        }
    }
}

/// A link: the connections that instance ``from`` opens to instance ``to`` through the proxy.
///
/// A connection whose source address is not in the proxy's instance table is attributed to an
/// instance named after its IP address (`"127.0.0.1"`).
public struct Link: Sendable, Hashable, CustomStringConvertible {
    /// The client instance: who opened the connections.
    public var from: String
    /// The server instance: the route's upstream.
    public var to: String

    /// Makes a link from `from` to `to`.
    public init(from: String, to: String) {
        self.from = from
        self.to = to
    }

    public var description: String { "\(self.from)->\(self.to)" }
}

/// A set of instance names, or every instance.
public struct InstanceSet: Sendable, Hashable, ExpressibleByArrayLiteral, CustomStringConvertible {
    private enum Storage: Sendable, Hashable {
        case any
        case names(Set<String>)
    }

    private let storage: Storage

    /// Every instance, including sources the instance table does not know.
    public static let any = InstanceSet(storage: .any)

    private init(storage: Storage) { self.storage = storage }

    /// Makes the set of the named instances.
    public init(_ names: some Sequence<String>) { self.storage = .names(Set(names)) }

    public init(arrayLiteral names: String...) { self.init(names) }

    /// Whether `instance` is in the set.
    public func contains(_ instance: String) -> Bool {
        switch self.storage {
        case .any: true
        case .names(let names): names.contains(instance)
        }
    }

    public var description: String {
        switch self.storage {
        case .any: "*"
        case .names(let names): "{" + names.sorted().joined(separator: ",") + "}"
        }
    }
}

/// Which links and directions a toxic covers: one or more (from-set, to-set, directions) rules.
///
/// A partition between two groups is one selector: `.between(["a-1", "a-2"], ["b-1"])`.
/// Rules add up: a link matched by several rules is covered in the union of their directions.
public struct LinkSelector: Sendable, Hashable, CustomStringConvertible {
    private struct Rule: Sendable, Hashable {
        var from: InstanceSet
        var to: InstanceSet
        var directions: Directions
    }

    private var rules: [Rule]

    /// Covers links from an instance in `from` to an instance in `to`, in `directions`.
    public init(from: InstanceSet, to: InstanceSet, directions: Directions = .both) {
        self.rules = [Rule(from: from, to: to, directions: directions)]
    }

    /// Covers links between the two groups, opened either way, in `directions`.
    ///
    /// Links inside one group are not covered.
    public static func between(
        _ first: InstanceSet,
        _ second: InstanceSet,
        directions: Directions = .both
    ) -> LinkSelector {
        LinkSelector(from: first, to: second, directions: directions)
            .union(LinkSelector(from: second, to: first, directions: directions))
    }

    /// Covers every link.
    public static func all(directions: Directions = .both) -> LinkSelector {
        LinkSelector(from: .any, to: .any, directions: directions)
    }

    /// The selector covering what either selector covers.
    public func union(_ other: LinkSelector) -> LinkSelector {
        var result = self
        result.rules.append(contentsOf: other.rules)
        return result
    }

    /// The directions of `link` this selector covers; empty when it does not match.
    public func directions(for link: Link) -> Directions {
        var covered: Directions = []
        for rule in self.rules where rule.from.contains(link.from) && rule.to.contains(link.to) {
            covered.formUnion(rule.directions)
        }
        return covered
    }

    /// Whether the selector covers `link` in at least one direction.
    public func matches(_ link: Link) -> Bool {
        !self.directions(for: link).isEmpty
    }

    public var description: String {
        self.rules.map { "\($0.from)->\($0.to) \($0.directions)" }.joined(separator: " + ")
    }
}
