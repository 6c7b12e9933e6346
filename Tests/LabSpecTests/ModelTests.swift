import Foundation
import LabSpec
import Testing

/// What the loader makes of valid files: the typed model, defaults, order and the Codable form.
@Suite struct ModelTests {
    let overlay: ComposeProject
    let forms: ComposeProject

    init() throws {
        overlay = try Fixture.load("valid/overlay/compose.yaml").get()
        forms = try Fixture.load("valid/forms/compose.yaml").get()
    }

    @Test func projectNameComesFromTheFileOrTheFolder() throws {
        #expect(overlay.name == "patch-tuesday")
        #expect(forms.name == "forms")
        #expect(try Fixture.load("valid/minimal/compose.yaml").get().name == "minimal")
    }

    @Test func servicesAreInStartOrderWithInstanceNames() {
        #expect(overlay.services.map(\.name) == ["auth", "supernode", "client"])
        #expect(overlay.instanceNames == ["auth-1", "supernode-1", "supernode-2", "supernode-3", "client-1", "client-2"])
        #expect(forms.services.map(\.name) == ["db", "worker", "migrate", "web"])
    }

    @Test func mergeKeysAndInterpolationFillEveryService() throws {
        let auth = try #require(overlay[service: "auth"])
        // STORMLAB_TAG and POLICY come from the .env file next to the compose file.
        #expect(auth.image == "stormlab:dev")
        #expect(auth.command == ["auth", "--policy", "adaptive", "--workers", "4"])
        #expect(auth.restart == .onFailure(maxRetries: 5))
        #expect(auth.stop == StopPolicy(signal: "SIGTERM", gracePeriod: .seconds(5)))
        #expect(auth.processArguments == ["stormlab", "auth", "--policy", "adaptive", "--workers", "4"])
    }

    @Test func processEnvironmentWinsOverDotEnv() throws {
        var variables = Fixture.variables
        variables["POLICY"] = "legacy"
        let project = try ComposeLoader.load(file: Fixture.path("valid/overlay/compose.yaml"), variables: variables).get()
        #expect(project[service: "supernode"]?.command?[2] == "legacy")
        #expect(project[service: "supernode"]?.image == "stormlab:dev")
    }

    @Test func environmentMergesEnvFileThenEnvironment() throws {
        let auth = try #require(overlay[service: "auth"])
        #expect(
            auth.environment == [
                "AUTH_USERS": "10000", "AUTH_QUEUE": "unbounded", "AUTH_REALM": "patch tuesday",
                "AUTH_COST": "10",  // environment wins over env_file's 4
                "LOG_LEVEL": "debug",  // a null value takes the variable
            ])
        let client = try #require(overlay[service: "client"])
        #expect(client.environment == ["CLIENT_RETRY": "fast", "HOME": "/home/lab"])
        #expect(forms[service: "db"]?.environment == ["POSTGRES_PASSWORD": "secret", "PRICE": "$5"])
    }

    @Test func healthChecksInEveryForm() throws {
        let auth = try #require(overlay[service: "auth"]?.healthCheck)
        #expect(auth.test == .exec(arguments: ["stormlab", "probe", "tcp://127.0.0.1:7400"]))
        #expect(auth.interval == .seconds(1))
        #expect(auth.timeout == .milliseconds(500))
        #expect(auth.retries == 5)
        #expect(auth.startPeriod == .seconds(2))
        #expect(auth.startInterval == .seconds(5))

        let db = try #require(forms[service: "db"]?.healthCheck)
        #expect(db.test == .shell(command: "pg_isready -U postgres"))
        #expect(db.interval == .seconds(90))
        #expect(db.timeout == .seconds(30))
        #expect(db.retries == 3)
        #expect(forms[service: "worker"]?.healthCheck?.isDisabled == true)
        #expect(forms[service: "migrate"]?.healthCheck?.isDisabled == true)
        #expect(forms[service: "web"]?.healthCheck == nil)
    }

    @Test func dependenciesKeepTheirConditions() throws {
        #expect(overlay[service: "supernode"]?.dependsOn.map(\.condition) == [.serviceHealthy])
        #expect(overlay[service: "client"]?.dependsOn.map(\.service) == ["auth", "supernode"])
        #expect(overlay[service: "client"]?.dependsOn.map(\.condition) == [.serviceStarted, .serviceStarted])
        #expect(forms[service: "web"]?.dependsOn.first?.condition == .serviceCompletedSuccessfully)
        let location = try #require(forms[service: "web"]?.dependsOn.first?.location)
        #expect((location.line, location.column) == (44, 7))
    }

    @Test func portsAndExpose() throws {
        #expect(overlay[service: "auth"]?.ports == [PortMapping(target: 7400, published: 7400, hostIP: "127.0.0.1")])
        #expect(
            overlay[service: "supernode"]?.expose == [PortMapping(target: 7500), PortMapping(target: 7501, protocol: .udp)])
        #expect(
            forms[service: "web"]?.ports == [
                PortMapping(target: 8080),
                PortMapping(target: 8080, published: 9090),
                PortMapping(target: 8081, published: 9091),
                PortMapping(target: 6001, published: 6001, hostIP: "::1"),
                PortMapping(target: 443, published: 8443, hostIP: "127.0.0.1"),
            ])
    }

    @Test func stormlabExtension() throws {
        let auth = try #require(overlay[service: "auth"]?.stormlab)
        #expect(auth.executable == ["stormlab"])
        #expect(auth.notify)
        #expect(auth.watchdog == .seconds(10))
        #expect(auth.socketActivation == [ActivatedSocket(port: 7400)])
        #expect(auth.metrics == MetricsEndpoint(port: 9400, path: "/metrics"))
        let supernode = try #require(overlay[service: "supernode"]?.stormlab)
        #expect(supernode.socketActivation == [ActivatedSocket(port: 7500), ActivatedSocket(port: 7501, protocol: .udp, name: "gossip")])
        #expect(supernode.socketActivation.map(\.name) == ["7500", "gossip"])
        let client = try #require(overlay[service: "client"]?.stormlab)
        #expect(client.notify == false && client.watchdog == nil && client.socketActivation.isEmpty)
        #expect(client.metrics == MetricsEndpoint(port: 9600, path: "/stats"))
    }

    @Test(arguments: [
        ("stormlab", ["stormlab"]),
        ("stormlab:dev", ["stormlab"]),
        ("ghcr.io/acme/stormlab-supernode:1.2", ["stormlab-supernode"]),
        ("localhost:5000/tools/probe", ["probe"]),
        ("registry.example.com/library/postgres:16@sha256:0123", ["postgres"]),
        ("", []),
    ])
    func defaultExecutableIsTheImageName(image: String, executable: [String]) {
        #expect(StormlabExtension.defaultExecutable(forImage: image) == executable)
    }

    @Test func entrypointReplacesTheExecutable() throws {
        let worker = try #require(forms[service: "worker"])
        #expect(worker.processArguments == ["/bin/sh", "-c", "echo", "hello world", "&&", "sleep", "1"])
    }

    @Test func networksVolumesAndLabels() throws {
        #expect(forms.networks == ["back", "default"])
        #expect(forms.volumes == ["data"])
        #expect(forms[service: "db"]?.networks == ["back"])
        #expect(forms[service: "worker"]?.networks == ["back", "default"])
        #expect(forms[service: "web"]?.networks == ["default"])
        #expect(forms[service: "db"]?.labels == ["com.example.role": "database", "com.example.empty": ""])
        #expect(forms[service: "worker"]?.labels == ["com.example.role": "worker"])
        #expect(forms[service: "worker"]?.restart == .unlessStopped)
        #expect(forms[service: "migrate"]?.restart == .no)
        #expect(forms[service: "web"]?.restart == .always)
    }

    @Test func codableFormRoundTripsWithReadableDurations() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        for project in [overlay, forms] {
            let data = try encoder.encode(project)
            #expect(try JSONDecoder().decode(ComposeProject.self, from: data) == project)
        }
        let json = String(decoding: try encoder.encode(overlay), as: UTF8.self)
        #expect(json.contains(#""interval":"1s""#))
        #expect(json.contains(#""timeout":"500ms""#))
        #expect(json.contains(#""watchdog":"10s""#))
        #expect(json.contains(#""restart":"on-failure:5""#))
    }
}
