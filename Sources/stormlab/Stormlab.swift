import ArgumentParser

@main
struct Stormlab: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stormlab",
        abstract: "A chaos-testing lab for distributed systems.",
        discussion: """
            Lab commands (up, run, validate, cleanup) run a lab's Compose services as local \
            processes. Role commands run the overlay under test (auth, supernode, client). \
            `stormlab demo` starts a small overlay of real processes on loopback and shows it heal \
            after a supernode is killed.
            """,
        subcommands: [
            UpCommand.self, RunCommand.self, PlanCommand.self, SuiteCommand.self, SweepCommand.self, QueryCommand.self, ReportCommand.self, ValidateCommand.self, CleanupCommand.self,
            AuthCommand.self, SupernodeCommand.self, ClientCommand.self, DemoCommand.self, BenchCommand.self,
            ProbeCommand.self, SandboxCommand.self,
        ]
    )
}
