import Foundation
import Orchestrator
import Testing

/// The restart count a process reads: the file the docker runtime writes wins over the
/// environment the process runtime sets; anything unreadable counts as a first start.
@Suite struct RestartCountTests {
    @Test func theEnvironmentSaysHowOftenAProcessWasRestarted() {
        #expect(restartCount(environment: [:]) == 0)
        #expect(restartCount(environment: ["STORMLAB_RESTARTS": "3"]) == 3)
        #expect(restartCount(environment: ["STORMLAB_RESTARTS": "many"]) == 0)
    }

    @Test func aContainersFileOverridesItsFixedEnvironment() throws {
        let path = NSTemporaryDirectory() + "stormlab-restarts-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try "2\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(restartCount(environment: ["STORMLAB_RESTARTS": "0", "STORMLAB_RESTARTS_FILE": path]) == 2)
        // Missing or garbled: the environment's count.
        #expect(restartCount(environment: ["STORMLAB_RESTARTS": "1", "STORMLAB_RESTARTS_FILE": path + ".missing"]) == 1)
        try "x".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(restartCount(environment: ["STORMLAB_RESTARTS": "1", "STORMLAB_RESTARTS_FILE": path]) == 1)
    }
}
