/// The `depends_on` graph of a set of services, for the start order and for finding cycles.
struct DependencyGraph {
    struct Cycle: Equatable {
        /// Service names along the cycle, the first repeated at the end: `a -> b -> a`.
        var path: [String]
        /// The `depends_on` entry of the first service that points at the second.
        var location: SourceLocation

        var diagnostic: Diagnostic {
            Diagnostic(.error, at: location, "dependency cycle: " + path.joined(separator: " -> "))
        }
    }

    private let names: [String]
    /// For each service, the indices of the services it depends on, with the entry's location.
    private let edges: [[(target: Int, location: SourceLocation)]]

    init(_ services: [ServiceSpec]) {
        names = services.map(\.name)
        var index: [String: Int] = [:]
        for (position, service) in services.enumerated() where index[service.name] == nil {
            index[service.name] = position
        }
        edges = services.map { service in
            var seen: Set<Int> = []
            return service.dependsOn.compactMap { dependency in
                guard let target = index[dependency.service], seen.insert(target).inserted else { return nil }
                return (target, dependency.location)
            }
        }
    }

    /// Indices in start order; services caught in a cycle come last, in file order.
    func order() -> [Int] {
        var remaining = edges.map { Set($0.map(\.target)) }
        var started = [Bool](repeating: false, count: names.count)
        var order: [Int] = []
        while order.count < names.count {
            guard let next = remaining.indices.first(where: { !started[$0] && remaining[$0].isEmpty }) else {
                order += names.indices.filter { !started[$0] }
                break
            }
            started[next] = true
            order.append(next)
            for index in remaining.indices { remaining[index].remove(next) }
        }
        return order
    }

    /// Every distinct cycle, each reported once, starting from the service that comes first.
    func cycles() -> [Cycle] {
        enum Mark { case unvisited, onStack, done }
        var marks = [Mark](repeating: .unvisited, count: names.count)
        var stack: [Int] = []
        var found: [Cycle] = []
        var reportedSets: Set<Set<Int>> = []

        // Iterative depth-first search, so a long chain of services cannot overflow the stack.
        for root in names.indices where marks[root] == .unvisited {
            var work: [(node: Int, nextEdge: Int)] = [(root, 0)]
            marks[root] = .onStack
            stack.append(root)
            while let top = work.last {
                let node = top.node
                guard top.nextEdge < edges[node].count else {
                    work.removeLast()
                    stack.removeLast()
                    marks[node] = .done
                    continue
                }
                work[work.count - 1].nextEdge += 1
                let edge = edges[node][top.nextEdge]
                switch marks[edge.target] {
                case .unvisited:
                    marks[edge.target] = .onStack
                    stack.append(edge.target)
                    work.append((edge.target, 0))
                case .onStack:
                    guard let start = stack.lastIndex(of: edge.target) else { continue }
                    var members = Array(stack[start...])
                    guard reportedSets.insert(Set(members)).inserted else { continue }
                    // Start the path at the member defined first in the file.
                    if let first = members.indices.min(by: { members[$0] < members[$1] }) {
                        members = Array(members[first...] + members[..<first])
                    }
                    let second = members.count > 1 ? members[1] : members[0]
                    let location = edges[members[0]].first { $0.target == second }?.location ?? edge.location
                    found.append(Cycle(path: (members + [members[0]]).map { names[$0] }, location: location))
                case .done:
                    continue
                }
            }
        }
        return found
    }
}
