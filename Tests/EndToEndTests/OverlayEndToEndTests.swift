import Foundation
import Overlay
import OverlayWire
import Systemd
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The overlay as real processes on loopback: every instance its own address, readiness through
/// the notify socket, and faults by real signals.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct OverlayEndToEndTests {
    @Test func thousandClientsGoOnlineAndReHomeAfterASupernodeIsKilled() async throws {
        try await withCluster({ layout in
            layout.supernodes = 3
            layout.clientProcesses = 2
            layout.virtualClientsPerProcess = 500
            layout.supernodeCapacity = 1000
        }) { cluster in
            let online = { await cluster.total("stormlab_client_online", role: "client") }
            #expect(await eventually(within: .seconds(60)) { await online() >= 990 }, "reach 99% of 1000 online")
            let attached = await cluster.total("stormlab_supernode_clients", role: "supernode")
            #expect(attached >= 990)

            cluster.signal("supernode-1", SIGKILL)
            #expect(await eventually(within: .seconds(5)) { _ = try? cluster.poll(); return cluster.exit(of: "supernode-1") != nil })
            #expect(cluster.exit(of: "supernode-1") == .signaled(SIGKILL))
            #expect(await eventually(within: .seconds(60)) { await online() >= 990 }, "re-home to 99% online")
            #expect(await cluster.total("stormlab_client_sessions_lost_total", role: "client") > 0)

            // Nobody else fell over, and the survivors hold everyone.
            try cluster.poll()
            for instance in cluster.instances where instance.name != "supernode-1" {
                #expect(cluster.exit(of: instance.name) == nil, "\(instance.name) still running")
            }
            #expect(await cluster.total("stormlab_supernode_clients", role: "supernode") >= 990)
            // Lookups go through the shared directory.
            #expect(await eventually(within: .seconds(15)) {
                await cluster.total("stormlab_supernode_lookups_total", role: "supernode") > 0
            })

            // SIGTERM: every process stops cleanly with status 0.
            await cluster.shutdown(grace: .seconds(3))
            for instance in cluster.instances where instance.name != "supernode-1" {
                #expect(cluster.exits[instance.name] == .exited(0), "\(instance.name): \(String(describing: cluster.exits[instance.name]))")
            }
        }
    }

    /// Malformed input of every class gets an error frame, a closed connection and a counter, and
    /// the server goes on serving valid logins.
    static let malformedInputs: [(String, [UInt8])] = [
        ("oversized length", [0x7F, 0xFF, 0xFF, 0xFF]),
        ("zero length", [0, 0, 0, 0]),
        ("unknown kind", [0, 0, 0, 1, 99]),
        ("truncated field", [0, 0, 0, 3, MessageKind.login.rawValue, 0, 50]),
        ("trailing bytes", [0, 0, 0, 10, MessageKind.heartbeat.rawValue, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
        ("wrong message for auth", FrameCodec.encode(.heartbeat(sequence: 1))),
    ]

    @Test func malformedFramesAtAuthAreAnsweredAndCounted() async throws {
        try await withCluster({ layout in
            layout.supernodes = 0
            layout.clientProcesses = 0
            layout.hashIterations = 10
        }) { cluster in
            let auth = cluster.instances(role: "auth")[0]
            for (name, bytes) in Self.malformedInputs {
                let connection = try RawConnection(to: auth.endpoint)
                connection.send(bytes)
                let (messages, closed) = connection.receiveUntilClosed()
                connection.close()
                #expect(closed, "\(name): connection closed")
                guard case .error(let code, _)? = messages.first else {
                    Issue.record("\(name): expected an error frame, got \(messages)")
                    continue
                }
                #expect(code == .malformedFrame || code == .unexpectedMessage, "\(name)")
            }
            // A stream cut inside a frame is counted too.
            let cut = try RawConnection(to: auth.endpoint)
            cut.send([0, 0, 0, 20, MessageKind.login.rawValue])
            cut.finishSending()
            _ = cut.receiveUntilClosed()
            cut.close()

            let page = try await MetricsFetch.get(auth.metrics)
            #expect(MetricsFetch.sums(page)["stormlab_malformed_frames_total"] == Double(Self.malformedInputs.count + 1))

            var storm = LoginStorm(auth: auth.endpoint, seed: cluster.layout.seed)
            storm.connections = 4
            storm.limit = 20
            let result = await storm.run()
            #expect(result.tokens == 20)
            try cluster.poll()
            #expect(cluster.exit(of: "auth") == nil)
        }
    }

    @Test func badCredentialsAndForgedTokensAreRefused() async throws {
        try await withCluster({ layout in
            layout.supernodes = 1
            layout.clientProcesses = 0
            layout.hashIterations = 10
        }) { cluster in
            let auth = try RawConnection(to: cluster.instances(role: "auth")[0].endpoint)
            auth.send(FrameCodec.encode(.login(user: "user-1", password: "wrong")))
            auth.send(FrameCodec.encode(.login(user: "nobody", password: "x")))
            auth.finishSending()
            let answers = auth.receiveUntilClosed().messages
            auth.close()
            #expect(answers.count == 2)
            #expect(answers.allSatisfy { if case .error(.badCredentials, _) = $0 { true } else { false } })

            let forged = TokenSigner(seed: "not-the-lab").issue(user: "user-1", now: 4_000_000_000, lifetime: 60, nonce: 1)
            let expired = TokenSigner(seed: cluster.layout.seed).issue(user: "user-1", now: 1_000, lifetime: 60, nonce: 1)
            for (token, code) in [(forged, ErrorCode.badToken), (expired, ErrorCode.expiredToken)] {
                let supernode = try RawConnection(to: cluster.instances(role: "supernode")[0].endpoint)
                supernode.send(FrameCodec.encode(.attach(token: token, process: "test", onlineSeconds: 0)))
                let reply = supernode.receiveUntilClosed()
                supernode.close()
                #expect(reply.closed)
                guard case .error(let got, _)? = reply.messages.first else {
                    Issue.record("expected an error, got \(reply.messages)")
                    continue
                }
                #expect(got == code)
            }
            let page = try await MetricsFetch.get(cluster.instances(role: "supernode")[0].metrics)
            #expect(page.contains(#"stormlab_supernode_attaches_total{outcome="rejected"} 2"#))
        }
    }

    @Test func aLegacySupernodeFallsOverPastItsHardLimit() async throws {
        try await withCluster({ layout in
            layout.supernodes = 1
            layout.clientProcesses = 1
            layout.virtualClientsPerProcess = 60
            layout.supernodeCapacity = 20
            layout.policy = .legacy
            layout.hashIterations = 10
        }) { cluster in
            #expect(await eventually(within: .seconds(30)) { _ = try? cluster.poll(); return cluster.exit(of: "supernode-1") != nil })
            #expect(cluster.exit(of: "supernode-1") == .exited(SupernodeConfiguration.overloadExitStatus))
        }
    }

    /// One supernode too small for the swarm: adaptive admission turns the surplus away with
    /// BUSY instead of falling over, promotes the client process, and everyone gets online.
    @Test func anAdaptiveOverlayShortOfSupernodesHealsByPromotion() async throws {
        try await withCluster({ layout in
            layout.supernodes = 1
            layout.clientProcesses = 1
            layout.virtualClientsPerProcess = 60
            layout.supernodeCapacity = 20
            layout.hashIterations = 10
        }) { cluster in
            let supernode = cluster.instances(role: "supernode")[0]
            #expect(await eventually(within: .seconds(30)) {
                await cluster.total("stormlab_client_promoted", role: "client") == 1
            }, "client-1 promoted")
            let allOnline = await eventually(within: .seconds(30)) {
                await cluster.total("stormlab_client_online", role: "client") >= 60
            }
            // Seen once in a loaded CI rehearsal, not reproduced: the promoted process's log says why.
            let clientLog = allOnline ? "" : ((try? String(contentsOfFile: "\(cluster.layout.directory)/client-1.log", encoding: .utf8)) ?? "")
            #expect(allOnline, "all 60 online once a promoted supernode takes the surplus; client-1's log ends:\n\(clientLog.suffix(3000))")
            let page = try await MetricsFetch.get(supernode.metrics)
            #expect(MetricsFetch.sums(page)["stormlab_supernode_clients"].map { $0 <= 20 } == true)
            #expect(MetricsFetch.sums(page)["stormlab_supernode_promotions_total"] == 1)
            #expect(!page.contains(#"stormlab_supernode_attaches_total{outcome="busy"} 0"#))
            try cluster.poll()
            #expect(cluster.exit(of: "supernode-1") == nil)
        }
    }
}
