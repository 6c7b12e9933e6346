import NIOCore
import Testing

@testable import DockerEngine

@Suite("Log stream demultiplexer")
struct LogStreamDemultiplexerTests {
    static func frame(_ stream: UInt8, _ text: String) -> [UInt8] {
        let payload = Array(text.utf8)
        let size = UInt32(payload.count)
        return [
            stream, 0, 0, 0, UInt8(size >> 24), UInt8(size >> 16 & 0xFF), UInt8(size >> 8 & 0xFF), UInt8(size & 0xFF),
        ]
            + payload
    }

    /// Feeds `bytes` in pieces cut at `cuts` and returns the text per stream.
    static func run(_ bytes: [UInt8], cuts: [Int]) throws -> (stdout: String, stderr: String, pieces: Int) {
        var demultiplexer = LogStreamDemultiplexer()
        var stdout = ""
        var stderr = ""
        var count = 0
        var start = 0
        for end in cuts + [bytes.count] where end >= start {
            for piece in try demultiplexer.append(ByteBuffer(bytes: bytes[start..<end])) {
                count += 1
                switch piece.stream {
                case .stderr: stderr += String(buffer: piece.bytes)
                default: stdout += String(buffer: piece.bytes)
                }
            }
            start = end
        }
        for piece in try demultiplexer.finish() { stdout += String(buffer: piece.bytes) }
        return (stdout, stderr, count)
    }

    static let stream = frame(1, "hello\n") + frame(2, "oops\n") + frame(1, "") + frame(1, "world\n")

    @Test("frames in one read")
    func oneRead() throws {
        let result = try Self.run(Self.stream, cuts: [])
        #expect(result.stdout == "hello\nworld\n")
        #expect(result.stderr == "oops\n")
    }

    @Test(
        "headers and payloads split anywhere",
        arguments: [
            [1], [3], [7], [8], [9], [13], [14], [15], [17], [1, 2, 3, 4, 5, 6, 7], [10, 20, 30], [27, 28, 29],
        ]
    )
    func splitReads(cuts: [Int]) throws {
        let result = try Self.run(Self.stream, cuts: cuts)
        #expect(result.stdout == "hello\nworld\n")
        #expect(result.stderr == "oops\n")
    }

    @Test("every single-byte split")
    func byteByByte() throws {
        let result = try Self.run(Self.stream, cuts: Array(1..<Self.stream.count))
        #expect(result.stdout == "hello\nworld\n")
        #expect(result.stderr == "oops\n")
    }

    @Test("a large payload is handed out as it arrives, not buffered whole")
    func largePayload() throws {
        let text = String(repeating: "x", count: 100_000)
        let bytes = Self.frame(1, text)
        let result = try Self.run(bytes, cuts: stride(from: 4, to: bytes.count, by: 4096).map { $0 })
        #expect(result.stdout == text)
        #expect(result.pieces > 20)
    }

    @Test("a TTY's raw stream passes through")
    func rawStream() throws {
        let bytes = Array("hi\nthere\n".utf8)
        #expect(try Self.run(bytes, cuts: [1, 4]).stdout == "hi\nthere\n")
        // Shorter than a header: handed out when the stream ends.
        #expect(try Self.run([0, 0], cuts: []).stdout == "\0\0")
    }

    @Test("a malformed header after the first frame is a protocol error")
    func malformedHeader() throws {
        var demultiplexer = LogStreamDemultiplexer()
        _ = try demultiplexer.append(ByteBuffer(bytes: Self.frame(1, "ok")))
        #expect(throws: DockerError.self) {
            _ = try demultiplexer.append(ByteBuffer(bytes: [9, 0, 0, 0, 0, 0, 0, 1, 65]))
        }
    }

    @Test("a stream that ends inside a frame is a protocol error")
    func truncated() throws {
        var demultiplexer = LogStreamDemultiplexer()
        _ = try demultiplexer.append(ByteBuffer(bytes: Self.frame(1, "hello").dropLast(2)))
        let error = #expect(throws: DockerError.self) { _ = try demultiplexer.finish() }
        #expect(error?.code == .protocolViolation)
    }
}

@Suite("Event line splitter")
struct EventLineSplitterTests {
    static func lines(_ chunks: [String], maximum: Int = 1 << 20) throws -> [String] {
        var splitter = EventLineSplitter(maximumLineLength: maximum)
        var lines: [String] = []
        for chunk in chunks {
            lines += try splitter.append(ByteBuffer(string: chunk)).map { String(buffer: $0) }
        }
        if let last = splitter.finish() { lines.append(String(buffer: last)) }
        return lines
    }

    @Test("lines split across reads, several per read, CRLF and blank lines")
    func splitting() throws {
        #expect(
            try Self.lines(["{\"a\":1}\n{\"b\"", ":2}\n", "\n", "{\"c\":3}\r\n{\"d\":4}\n"]) == [
                "{\"a\":1}", "{\"b\":2}", "{\"c\":3}", "{\"d\":4}",
            ]
        )
        #expect(try Self.lines(["{", "\"a\"", ":", "1", "}", "\n"]) == ["{\"a\":1}"])
        #expect(try Self.lines(["{\"tail\":true}"]) == ["{\"tail\":true}"])
        #expect(try Self.lines(["", "\n\n"]) == [])
    }

    @Test("an endless line is a protocol error")
    func tooLong() throws {
        #expect(throws: DockerError.self) { try Self.lines([String(repeating: "x", count: 100)], maximum: 64) }
    }

    @Test("an event line decodes to a DockerEvent")
    func decoding() throws {
        let line = """
            {"status":"die","id":"abc","from":"stormlab:local","Type":"container","Action":"die",\
            "Actor":{"ID":"abc","Attributes":{"exitCode":"137","name":"n1","stormlab.run":"r1"}},\
            "scope":"local","time":1700000000,"timeNano":1700000000123456789}
            """
        let event = try DockerEvent(line: ByteBuffer(string: line))
        #expect(
            event
                == DockerEvent(
                    type: "container",
                    action: "die",
                    id: "abc",
                    attributes: ["exitCode": "137", "name": "n1", "stormlab.run": "r1"],
                    time: 1_700_000_000,
                    timeNano: 1_700_000_000_123_456_789
                )
        )
        let health = try DockerEvent(
            line: ByteBuffer(
                string: #"{"Type":"container","Action":"health_status: healthy","Actor":{"ID":"x"},"time":1}"#
            )
        )
        #expect(health.action == "health_status: healthy")
        #expect(health.timeNano == 1_000_000_000)
        #expect(throws: DockerError.self) { try DockerEvent(line: ByteBuffer(string: "not json")) }
        #expect(throws: DockerError.self) { try DockerEvent(line: ByteBuffer(string: #"{"Type":"container"}"#)) }
    }
}
