import Foundation
import LabSpec
import Testing

/// Loading compose text from memory: small cases, each with the exact diagnostics it must produce.
@Suite struct LoaderTests {
    static func describe(_ yaml: String, variables: [String: String] = [:]) -> [String] {
        ComposeLoader.load(yaml: yaml, file: "lab.yaml", variables: variables).diagnostics.map(\.description)
    }

    @Test(arguments: [
        ("services:\n  web:\n    image: nginx\n", [String]()),
        (
            "services:\n  web:\n    image: nginx\n    deploy: {replicas: -1}\n",
            ["lab.yaml:4:24: error: services.web.deploy.replicas must be 0 or more, found -1"]
        ),
        (
            "services:\n  web:\n    image: nginx\n    prots: [80]\n",
            [#"lab.yaml:4:5: error: unknown key "prots" in services.web; did you mean "ports"?"#]
        ),
        (
            "services:\n  web:\n    image: nginx\n    volumes: [./data:/data]\n    working_dir: /srv\n",
            [
                "lab.yaml:4:5: warning: services.web.volumes is not supported by the process runtime; it is ignored",
                "lab.yaml:5:5: warning: services.web.working_dir is not supported by the process runtime; it is ignored",
            ]
        ),
        (
            "services:\n  web:\n    image: ${IMAGE:?pick an image}\n",
            ["lab.yaml:3:12: error: required variable IMAGE is missing a value: pick an image"]
        ),
        (
            "services:\n  web:\n    image: 'x:${TAG:?}'\n",
            ["lab.yaml:3:15: error: required variable TAG is missing a value"]
        ),
        (
            "services:\n  web:\n    image: nginx\n    ports: [\"80\", \"80\"]\n    deploy:\n      replicas: 2\n",
            [String]()
        ),
        (
            "services:\n  web:\n    image: nginx\n    ports: [\"8080:80\"]\n    deploy:\n      replicas: 2\n",
            [
                "lab.yaml:4:5: warning: services.web publishes fixed port 8080/tcp but has 2 replicas; only one instance can bind it"
            ]
        ),
        ("services:\n  web:\n    image: nginx\n  web:\n    image: other\n", [#"lab.yaml:2:3: error: invalid YAML: duplicate key "web" in a mapping"#]),
        ("services: [web]\n", ["lab.yaml:1:11: error: services must be a mapping, found a list"]),
        ("- just\n- a list\n", ["lab.yaml:1:1: error: the compose file must be a mapping, found a list"]),
        ("services:\n  web:\n    image: *nowhere\n", ["lab.yaml:3:12: error: invalid YAML: found undefined alias"]),
        ("\"unclosed\n", [#"lab.yaml:2:1: error: invalid YAML: found unexpected end of stream (while scanning a quoted scalar at 1:1)"#]),
    ])
    func inlineCases(yaml: String, expected: [String]) {
        #expect(Self.describe(yaml) == expected)
    }

    @Test func everyProblemIsReportedAtOnceInFileOrder() {
        let yaml = """
            services:
              b:
                image: b
                depends_on: [a, ghost]
                restart: sometimes
              a:
                image: a
                depends_on:
                  b: {condition: service_healthy}
                healthcheck:
                  test: ["CMD"]
            """
        #expect(
            Self.describe(yaml) == [
                "lab.yaml:4:18: error: dependency cycle: b -> a -> b",
                #"lab.yaml:4:21: error: services.b depends on undefined service "ghost""#,
                #"lab.yaml:5:14: error: services.b.restart must be "no", "always", "on-failure", "on-failure:N" or "unless-stopped", found "sometimes""#,
                #"lab.yaml:9:7: error: services.a waits for "b" to be healthy, but "b" has no healthcheck (and no x-stormlab.notify)"#,
                #"lab.yaml:11:13: error: services.a.healthcheck.test ["CMD", ...] needs a command after "CMD""#,
            ])
    }

    @Test func notifyStandsInForAHealthcheck() throws {
        let yaml = """
            services:
              auth:
                image: stormlab
                x-stormlab: {notify: true}
              client:
                image: stormlab
                depends_on: {auth: {condition: service_healthy}}
            """
        let project = try ComposeLoader.load(yaml: yaml).get()
        #expect(project.services.map(\.name) == ["auth", "client"])
    }

    @Test func executableWithoutImageIsEnough() throws {
        let yaml = "services:\n  probe:\n    x-stormlab:\n      executable: /usr/bin/env probe --fast\n    command: [once]\n"
        let project = try ComposeLoader.load(yaml: yaml).get()
        #expect(project.services.first?.processArguments == ["/usr/bin/env", "probe", "--fast", "once"])
    }

    @Test func replicasZeroHasNoInstances() throws {
        let project = try ComposeLoader.load(yaml: "services:\n  off:\n    image: x\n    deploy: {replicas: 0}\n").get()
        #expect(project.instanceNames.isEmpty)
        #expect(project.services.first?.replicas == 0)
    }

    @Test func interpolationAppliesBeforeTypes() throws {
        let yaml = """
            services:
              web:
                image: nginx
                deploy: {replicas: "${COUNT}"}
                restart: ${RESTART:-always}
                x-stormlab: {notify: "${NOTIFY}"}
            """
        let project = try ComposeLoader.load(yaml: yaml, variables: ["COUNT": "4", "NOTIFY": "true"]).get()
        let web = try #require(project.services.first)
        #expect(web.replicas == 4)
        #expect(web.restart == .always)
        #expect(web.stormlab.notify)
    }

    @Test func stopSignalIsNormalised() throws {
        let yaml = "services:\n  a:\n    image: a\n    stop_signal: int\n  b:\n    image: b\n    stop_signal: 9\n"
        let project = try ComposeLoader.load(yaml: yaml).get()
        #expect(project.services.map(\.stop.signal) == ["SIGINT", "9"])
    }

    @Test func projectNameDefaults() throws {
        let yaml = "services:\n  a:\n    image: a\n"
        #expect(try ComposeLoader.load(yaml: yaml).get().name == "lab")
        #expect(try ComposeLoader.load(yaml: yaml, file: "labs/Patch Tuesday/compose.yaml").get().name == "patchtuesday")
        #expect(try ComposeLoader.load(yaml: yaml, projectName: "given").get().name == "given")
    }

    @Test func startOrderFollowsDependenciesThenFileOrder() throws {
        let services = [
            ServiceSpec(name: "client", dependsOn: [ServiceDependency(service: "supernode")]),
            ServiceSpec(name: "metrics"),
            ServiceSpec(name: "supernode", dependsOn: [ServiceDependency(service: "auth")]),
            ServiceSpec(name: "auth", dependsOn: [ServiceDependency(service: "not-in-the-list")]),
        ]
        let order = try ComposeProject.startOrder(of: services)
        #expect(order.map(\.name) == ["metrics", "auth", "supernode", "client"])
    }

    @Test func startOrderRefusesCycles() {
        let at = SourceLocation(file: "lab.yaml", line: 3, column: 5)
        let services = [
            ServiceSpec(name: "a", dependsOn: [ServiceDependency(service: "b", location: at)]),
            ServiceSpec(name: "b", dependsOn: [ServiceDependency(service: "a")]),
        ]
        let error = #expect(throws: LabSpecError.self) { try ComposeProject.startOrder(of: services) }
        #expect(error?.code == .dependencyCycle)
        #expect(error?.description == "lab.yaml:3:5: error: dependency cycle: a -> b -> a")
    }

    @Test func dotEnvFileIsReadNextToTheComposeFile() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("labspec-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try "services:\n  web:\n    image: nginx:${TAG}\n    command: ${ARGS}\n".write(
            toFile: folder + "/compose.yaml", atomically: true, encoding: .utf8)
        try "TAG=1.27\nARGS=from-dotenv\nBROKEN LINE\n".write(toFile: folder + "/.env", atomically: true, encoding: .utf8)
        let load = ComposeLoader.load(file: folder + "/compose.yaml", variables: ["ARGS": "from-process"])
        #expect(load.diagnostics.map(\.description) == ["\(folder)/.env:3:1: error: invalid line in env file: expected KEY=VALUE"])
        try "TAG=1.27\nARGS=from-dotenv\n".write(toFile: folder + "/.env", atomically: true, encoding: .utf8)
        let web = try #require(try ComposeLoader.load(file: folder + "/compose.yaml", variables: ["ARGS": "from-process"]).get().services.first)
        #expect(web.image == "nginx:1.27")
        #expect(web.command == ["from-process"])
    }

    @Test func diagnosticDescriptionIsExact() {
        let diagnostic = Diagnostic(.warning, at: SourceLocation(file: "labs/x/compose.yaml", line: 3, column: 7), "careful")
        #expect(diagnostic.description == "labs/x/compose.yaml:3:7: warning: careful")
        #expect(Diagnostic(.error, at: diagnostic.location, "bad").description == "labs/x/compose.yaml:3:7: error: bad")
    }
}

/// Loading never crashes, whatever the input.
@Suite struct RobustnessTests {
    @Test(arguments: [
        "", " ", "\t", "---", "...", "~", "null", "[", "{", "]", "}", "- a", ":", "? ", "&a", "*a", "!!binary x",
        "services:", "services: ~", "services: 1", "services:\n  web:", "services:\n  web: []",
        "services:\n  web:\n    deploy:\n      replicas: 99999999999999999999999",
        "services:\n  web:\n    image: x\n    ports: [\"-\", \":\", \"/\", \"::\", \"[\", \"[]:\", \"1-\", \"-1\", \":::::::::\"]",
        "services:\n  web:\n    image: x\n    healthcheck: {test: [], interval: \"9223372036854775807h\"}",
        "services:\n  web:\n    image: \"${${${${\"\n    command: \"$${}${:-}${A:-${B:-${C:-}}}\"",
        "services:\n  ? [a, b]\n  : image: x",
        "services:\n  web: &a\n    image: x\n    <<: *a",
        "x: &a [*a]",
        "services:\n  web:\n    image: x\n    environment: [\"=\", \"==\", \"\"]\n    labels: [\"=\"]",
        "services:\n  web:\n    image: x\n    x-stormlab:\n      socket-activation: [{}, [], ~, {port: 0}]\n      metrics: []",
        "\u{FEFF}services:\n  web:\n    image: x",
        "services:\n  web:\n    image: \u{0}",
        String(repeating: "[", count: 5000),
        String(repeating: "- ", count: 3000) + "x",
    ])
    func strangeInputIsDiagnosedNotCrashed(yaml: String) {
        let load = ComposeLoader.load(yaml: yaml)
        #expect(load.project != nil || load.diagnostics.containsErrors)
    }

    @Test func longDependencyChainsAndManyServices() throws {
        var yaml = "services:\n"
        for index in 0..<2000 {
            yaml += "  s\(index):\n    image: x\n    depends_on: [s\(index + 1 == 2000 ? 0 : index + 1)]\n"
        }
        let load = ComposeLoader.load(yaml: yaml)
        #expect(load.errors.count == 1)
        #expect(load.errors.first?.message.hasPrefix("dependency cycle: s0 -> s1 -> s2") == true)
    }

    @Test func mutatedFixturesNeverCrash() throws {
        let text = try String(contentsOfFile: Fixture.path("valid/overlay/compose.yaml"), encoding: .utf8)
        var scalars = Array(text.unicodeScalars)
        var random = SplitMix64(seed: 2007)
        let alphabet = Array(":-[]{}\"'$#&*!|>\n ,?%@`\\".unicodeScalars)
        for _ in 0..<300 {
            var mutated = scalars
            for _ in 0..<Int(random.next() % 4 + 1) {
                let position = Int(random.next() % UInt64(mutated.count))
                switch random.next() % 3 {
                case 0: mutated.remove(at: position)
                case 1: mutated.insert(alphabet[Int(random.next() % UInt64(alphabet.count))], at: position)
                default: mutated[position] = alphabet[Int(random.next() % UInt64(alphabet.count))]
                }
            }
            var view = String.UnicodeScalarView()
            view.append(contentsOf: mutated)
            _ = ComposeLoader.load(yaml: String(view), file: Fixture.path("valid/overlay/compose.yaml"))
        }
        scalars.removeAll()
    }
}

/// A small seeded generator, so the mutation test is the same on every run.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
