import Testing
@testable import OverlayWire

private let signer = TokenSigner(seed: "codec-tests")
private let token = signer.issue(user: "user-7", now: 1_000, lifetime: 60, nonce: 42)
private let peer = PeerInfo(name: "supernode-1", endpoint: Endpoint(host: "127.0.0.2", port: 7200), clients: 10, capacity: 100, promoted: false)

/// One message of every kind.
let everyMessage: [Message] = [
    .login(user: "user-1", password: "secret"),
    .token(token),
    .busy(retryAfterMillis: 250, reason: "queue full"),
    .attach(token: token, process: "client-1", onlineSeconds: 12),
    .attached(supernode: "supernode-1", peers: [peer]),
    .redirect(to: Endpoint(host: "::1", port: 7201), reason: "full"),
    .heartbeat(sequence: 9),
    .heartbeatAck(sequence: 9, loadPerMille: 512),
    .lookup(requestID: 3, user: "user-99"),
    .lookupResult(requestID: 3, user: "user-99", location: "supernode-2"),
    .lookupResult(requestID: 4, user: "user-98", location: nil),
    .peers([peer, peer]),
    .register(supernode: "supernode-1", users: ["user-1", "user-2"]),
    .promote(reason: "pool load high"),
    .error(code: .badToken, message: "nope"),
]

@Suite struct FrameCodecTests {
    @Test(arguments: everyMessage)
    func roundTrips(_ message: Message) throws {
        let frame = FrameCodec.encode(message)
        var decoder = FrameDecoder()
        decoder.append(frame)
        #expect(try decoder.next() == message)
        #expect(try decoder.next() == nil)
        #expect(decoder.bufferedByteCount == 0)
    }

    @Test func decodesAStreamFedOneByteAtATime() throws {
        let stream = everyMessage.flatMap(FrameCodec.encode)
        var decoder = FrameDecoder()
        var decoded: [Message] = []
        for byte in stream {
            decoder.append([byte])
            while let message = try decoder.next() { decoded.append(message) }
        }
        #expect(decoded == everyMessage)
    }

    /// A frame with the given body, length prefix computed.
    static func frame(_ body: [UInt8]) -> [UInt8] {
        let n = UInt32(body.count)
        return [UInt8(n >> 24), UInt8(truncatingIfNeeded: n >> 16), UInt8(truncatingIfNeeded: n >> 8), UInt8(truncatingIfNeeded: n)] + body
    }

    /// Every class of malformed input, with the error code it must produce.
    static let malformed: [(String, [UInt8], WireError.Code)] = [
        ("oversized length", [0x7F, 0xFF, 0xFF, 0xFF, 1], .oversizedFrame),
        ("length one past the limit", [0x00, 0x01, 0x00, 0x01], .oversizedFrame),
        ("zero length", [0, 0, 0, 0], .emptyFrame),
        ("unknown kind", frame([200]), .unknownKind),
        ("kind zero", frame([0]), .unknownKind),
        ("truncated string", frame([MessageKind.login.rawValue, 0, 10, 65]), .truncatedField),
        ("missing field", frame([MessageKind.heartbeat.rawValue, 0, 0, 0]), .truncatedField),
        ("trailing bytes", frame([MessageKind.heartbeat.rawValue] + [UInt8](repeating: 0, count: 9)), .trailingBytes),
        ("invalid UTF-8", frame([MessageKind.promote.rawValue, 0, 2, 0xC3, 0x28]), .invalidUTF8),
        ("too many list elements", frame([MessageKind.register.rawValue, 0, 1, 65, 0xFF, 0xFF]), .tooManyElements),
        ("bad flag byte", frame([MessageKind.lookupResult.rawValue] + [UInt8](repeating: 0, count: 8) + [0, 0, 7]), .invalidValue),
        ("short signature", frame([MessageKind.token.rawValue, 0, 1, 65] + [UInt8](repeating: 0, count: 16) + [32] + [UInt8](repeating: 0, count: 32)), .invalidValue),
        ("empty endpoint host", frame([MessageKind.redirect.rawValue, 0, 0, 0x1C, 0x20, 0, 0]), .invalidValue),
    ]

    @Test(arguments: malformed)
    func rejectsMalformedInput(_ name: String, _ bytes: [UInt8], _ code: WireError.Code) {
        var decoder = FrameDecoder()
        decoder.append(bytes)
        #expect(throws: WireError.self, "\(name)") { _ = try decoder.next() }
        do {
            var again = FrameDecoder()
            again.append(bytes)
            _ = try again.next()
        } catch {
            #expect(error.code == code, "\(name): \(error)")
        }
    }

    @Test func anOversizedLengthIsRejectedBeforeTheBodyArrives() {
        var decoder = FrameDecoder()
        decoder.append([0x00, 0x10, 0x00, 0x00])  // 1 MiB announced, nothing sent
        #expect(throws: WireError.self) { _ = try decoder.next() }
    }

    @Test func aPartialFrameWaitsForMoreBytes() throws {
        let frame = FrameCodec.encode(.heartbeat(sequence: 1))
        var decoder = FrameDecoder()
        decoder.append(frame.dropLast())
        #expect(try decoder.next() == nil)
        decoder.append(frame.suffix(1))
        #expect(try decoder.next() == .heartbeat(sequence: 1))
    }

    /// Random bytes, and valid frames with random corruption, only ever decode or throw.
    @Test func neverTrapsOnRandomInput() {
        var generator = SplitMix64(seed: 2007)
        let valid = everyMessage.map(FrameCodec.encode)
        for round in 0..<5_000 {
            var bytes: [UInt8]
            if round % 2 == 0 {
                bytes = (0..<Int.random(in: 0..<64, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            } else {
                bytes = valid[round % valid.count]
                for _ in 0..<3 {
                    let index = Int.random(in: 4..<bytes.count, using: &generator)
                    bytes[index] = UInt8.random(in: 0...255, using: &generator)
                }
            }
            var decoder = FrameDecoder()
            decoder.append(bytes)
            while true {
                guard let result = try? decoder.next() else { break }
                _ = result
            }
        }
    }
}

/// A small seeded generator, so failures reproduce.
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
