import Foundation
import NIOCore
import Testing

@testable import DockerEngine

/// Turns a body into nested dictionaries, as the engine would see it.
private func json(_ buffer: ByteBuffer) throws -> [String: Any] {
    let object = try JSONSerialization.jsonObject(with: Data(buffer.readableBytesView))
    return try #require(object as? [String: Any])
}

@Suite("Request bodies")
struct RequestBodyTests {
    @Test("a full ContainerSpec maps to the ContainerCreate keys")
    func fullContainer() throws {
        let spec = ContainerSpec(
            image: "stormlab:local",
            entrypoint: ["/usr/bin/stormlab"],
            command: ["supernode", "--listen", "0.0.0.0:7200"],
            environment: ["B": "2", "A": "1=one"],
            labels: ["stormlab.run": "r1", "stormlab.instance": "sn1"],
            hostname: "sn1",
            user: "1000:1000",
            workingDirectory: "/data",
            stopSignal: "SIGTERM",
            stopTimeout: 7,
            network: "lab-r1",
            ipv4Address: "172.31.9.10",
            aliases: ["supernode", "sn1"],
            binds: ["/tmp/run:/run/lab:ro"],
            healthcheck: HealthcheckSpec(
                test: ["/usr/bin/stormlab", "probe", "tcp", "127.0.0.1:7200"],
                interval: .milliseconds(500),
                timeout: .seconds(2),
                startPeriod: .seconds(1),
                retries: 3
            ),
            capAdd: ["NET_ADMIN"],
            init: true,
            memoryBytes: 256 << 20,
            nanoCPUs: 1_500_000_000
        )
        let body = try json(spec.requestBody())
        #expect(
            Set(body.keys) == [
                "Image", "Entrypoint", "Cmd", "Env", "Labels", "Hostname", "User", "WorkingDir", "StopSignal",
                "StopTimeout", "Healthcheck", "HostConfig", "NetworkingConfig",
            ]
        )
        #expect(body["Image"] as? String == "stormlab:local")
        #expect(body["Entrypoint"] as? [String] == ["/usr/bin/stormlab"])
        #expect(body["Cmd"] as? [String] == ["supernode", "--listen", "0.0.0.0:7200"])
        #expect(body["Env"] as? [String] == ["A=1=one", "B=2"])
        #expect(body["Labels"] as? [String: String] == ["stormlab.run": "r1", "stormlab.instance": "sn1"])
        #expect(body["Hostname"] as? String == "sn1")
        #expect(body["User"] as? String == "1000:1000")
        #expect(body["WorkingDir"] as? String == "/data")
        #expect(body["StopSignal"] as? String == "SIGTERM")
        #expect(body["StopTimeout"] as? Int == 7)

        let health = try #require(body["Healthcheck"] as? [String: Any])
        #expect(health["Test"] as? [String] == ["CMD", "/usr/bin/stormlab", "probe", "tcp", "127.0.0.1:7200"])
        #expect(health["Interval"] as? Int == 500_000_000)
        #expect(health["Timeout"] as? Int == 2_000_000_000)
        #expect(health["StartPeriod"] as? Int == 1_000_000_000)
        #expect(health["Retries"] as? Int == 3)

        let host = try #require(body["HostConfig"] as? [String: Any])
        #expect(Set(host.keys) == ["NetworkMode", "Binds", "CapAdd", "Init", "Memory", "NanoCpus", "RestartPolicy"])
        #expect(host["NetworkMode"] as? String == "lab-r1")
        #expect(host["Binds"] as? [String] == ["/tmp/run:/run/lab:ro"])
        #expect(host["CapAdd"] as? [String] == ["NET_ADMIN"])
        #expect(host["Init"] as? Bool == true)
        #expect(host["Memory"] as? Int == 268_435_456)
        #expect(host["NanoCpus"] as? Int == 1_500_000_000)
        #expect(host["RestartPolicy"] as? [String: String] == ["Name": "no"])

        let networking = try #require(body["NetworkingConfig"] as? [String: Any])
        let endpoints = try #require(networking["EndpointsConfig"] as? [String: Any])
        #expect(Array(endpoints.keys) == ["lab-r1"])
        let endpoint = try #require(endpoints["lab-r1"] as? [String: Any])
        #expect(endpoint["IPAMConfig"] as? [String: String] == ["IPv4Address": "172.31.9.10"])
        #expect(endpoint["Aliases"] as? [String] == ["supernode", "sn1"])
    }

    @Test("a minimal ContainerSpec leaves the image's settings alone and joins no network")
    func minimalContainer() throws {
        let body = try json(ContainerSpec(image: "stormlab:local").requestBody())
        #expect(Set(body.keys) == ["Image", "Labels", "HostConfig"])
        let host = try #require(body["HostConfig"] as? [String: Any])
        #expect(host["NetworkMode"] as? String == "none")
        #expect(host["RestartPolicy"] as? [String: String] == ["Name": "no"])
        #expect(Set(host.keys) == ["NetworkMode", "RestartPolicy"])
    }

    @Test("a container that joins another's network namespace names it, and no network or hostname")
    func joinedNamespace() throws {
        let spec = ContainerSpec(
            image: "x", hostname: "sn1", network: "lab-r1", ipv4Address: "172.31.9.10", aliases: ["sn1"],
            networkNamespaceOf: "lab-r1-sn1-sandbox")
        let body = try json(spec.requestBody())
        #expect(Set(body.keys) == ["Image", "Labels", "HostConfig"])
        let host = try #require(body["HostConfig"] as? [String: Any])
        #expect(host["NetworkMode"] as? String == "container:lab-r1-sn1-sandbox")
    }

    @Test("a healthcheck already in CMD-SHELL form is kept as it is")
    func shellHealthcheck() throws {
        let spec = ContainerSpec(image: "x", healthcheck: HealthcheckSpec(test: ["CMD-SHELL", "true"]))
        let body = try json(spec.requestBody())
        let health = try #require(body["Healthcheck"] as? [String: Any])
        #expect(health["Test"] as? [String] == ["CMD-SHELL", "true"])
        #expect(Set(health.keys) == ["Test"])
    }

    @Test("a NetworkSpec maps to the NetworkCreate keys")
    func network() throws {
        let spec = NetworkSpec(
            name: "lab-r1",
            subnet: "172.31.9.0/24",
            gateway: "172.31.9.1",
            labels: ["stormlab.run": "r1"],
            bridgeName: "stl-r1"
        )
        let body = try json(spec.requestBody())
        #expect(body["Name"] as? String == "lab-r1")
        #expect(body["Driver"] as? String == "bridge")
        #expect(body["Internal"] as? Bool == true)
        #expect(body["CheckDuplicate"] as? Bool == true)
        #expect(body["Labels"] as? [String: String] == ["stormlab.run": "r1"])
        #expect(body["Options"] as? [String: String] == ["com.docker.network.bridge.name": "stl-r1"])
        let ipam = try #require(body["IPAM"] as? [String: Any])
        #expect(ipam["Driver"] as? String == "default")
        #expect(ipam["Config"] as? [[String: String]] == [["Subnet": "172.31.9.0/24", "Gateway": "172.31.9.1"]])

        let bare = try json(NetworkSpec(name: "n").requestBody())
        #expect((bare["IPAM"] as? [String: Any])?["Config"] as? [[String: String]] == [])
        #expect(bare["Options"] as? [String: String] == [:])
    }

    @Test("paths and queries are versioned and escaped")
    func targets() {
        #expect(
            DockerEngine.path("containers", DockerEngine.escape("a b/c"), "json") == "/v1.41/containers/a%20b%2Fc/json"
        )
        #expect(DockerEngine.escape("registry:5000/x/y:tag", keeping: "/:@") == "registry:5000/x/y:tag")
        #expect(DockerEngine.query(["t": nil]) == "")
        #expect(DockerEngine.query(["signal": "SIGKILL", "t": "3", "x": nil]) == "?signal=SIGKILL&t=3")
        #expect(
            DockerEngine.query(["filters": DockerEngine.filters(["label": ["stormlab.run=r1"]])])
                == "?filters=%7B%22label%22%3A%5B%22stormlab.run%3Dr1%22%5D%7D"
        )
    }

    @Test(
        "API versions compare numerically",
        arguments: [
            ("1.41", true), ("1.45", true), ("1.100", true), ("2.0", true), ("1.40", false), ("1.9", false),
            ("1.41.1", true),
        ]
    )
    func apiVersions(version: String, accepted: Bool) {
        #expect(DockerEngine.apiVersion(version, isAtLeast: "1.41") == accepted)
    }
}
