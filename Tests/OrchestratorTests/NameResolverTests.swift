import LabSpec
import Orchestrator
import Testing

struct NameResolverTests {
    let instances = [
        InstanceAddress(service: "auth", name: "auth-1", index: 1, address: "127.9.0.1"),
        InstanceAddress(service: "supernode", name: "supernode-1", index: 1, address: "127.9.0.2"),
        InstanceAddress(service: "supernode", name: "supernode-2", index: 2, address: "127.9.0.3"),
        InstanceAddress(service: "client", name: "client-1", index: 1, address: "127.9.0.4"),
    ]
    var resolver: NameResolver { NameResolver(instances: instances, serviceNames: ["auth", "supernode", "client", "idle"], run: "R1") }

    @Test(arguments: [
        ("supernode:7200", "127.9.0.2:7200,127.9.0.3:7200"),
        ("auth:7100", "127.9.0.1:7100"),
        ("--peers=supernode:7200", "--peers=127.9.0.2:7200,127.9.0.3:7200"),
        ("supernode-2:7200", "127.9.0.3:7200"),
        ("http://auth:9100/metrics", "http://127.9.0.1:9100/metrics"),
        ("auth:7100,supernode-1:7200", "127.9.0.1:7100,127.9.0.2:7200"),
        ("idle:80", ""),
        ("client", "client"),
        ("myauth:7100", "myauth:7100"),
        ("auth:71000", "auth:71000"),
        ("auth:7100x", "auth:7100x"),
        ("http://x", "http://x"),
        ("${STORMLAB_ADDRESS}:7200", "127.9.0.3:7200"),
        ("$STORMLAB_INDEX-$STORMLAB_SERVICE", "2-supernode"),
        ("${STORMLAB_INSTANCE}@${STORMLAB_RUN}", "supernode-2@R1"),
        ("$STORMLAB_INDEXES", "$STORMLAB_INDEXES"),
    ])
    func resolves(_ input: String, _ expected: String) {
        #expect(resolver.resolve(input, for: instances[2]) == expected)
    }

    @Test func addressBlocksSkipZeroAndBroadcastAndCrossIntoTheNextBlock() {
        let block = AddressBlock(a: 200, b: 255)
        #expect(block.address(0) == "127.200.255.1")
        #expect(block.address(253) == "127.200.255.254")
        #expect(block.address(254) == "127.201.0.1")
        #expect(AddressBlock(parsing: "127.55.3") == AddressBlock(a: 55, b: 3))
        #expect(AddressBlock(parsing: "127.55.3.0") == AddressBlock(a: 55, b: 3))
        #expect(AddressBlock(parsing: "300.1") == nil)
    }

    @Test func loaderKeepsPerInstanceVariablesForTheRuntime() throws {
        let yaml = """
            services:
              a:
                image: x
                command: ["--listen", "${STORMLAB_ADDRESS}:7000", "--n", "$STORMLAB_INDEX", "--p", "${P:-d}"]
            """
        let project = try ComposeLoader.load(yaml: yaml, variables: ["STORMLAB_ADDRESS": "host-value"]).get()
        #expect(project.services[0].command == ["--listen", "${STORMLAB_ADDRESS}:7000", "--n", "${STORMLAB_INDEX}", "--p", "d"])
    }
}
