import NIOCore

/// Splits the engine's multiplexed log stream (non-TTY containers) into its frames' payloads.
///
/// Each frame is an 8-byte header — the stream (0 stdin, 1 stdout, 2 stderr, 3 the engine's own
/// error), three zero bytes, the payload length as a big-endian `UInt32` — then the payload.
/// Headers and payloads may be split anywhere across reads; payloads are handed out piece by piece
/// as they arrive, never buffered whole. A stream whose first bytes cannot be a header is a TTY
/// container's raw stream and is passed through as stdout.
struct LogStreamDemultiplexer {
    /// Which stream a payload came from.
    enum Stream: UInt8, Sendable {
        case stdin = 0
        case stdout = 1
        case stderr = 2
        case systemError = 3
    }

    /// A piece of one frame's payload.
    struct Piece: Equatable {
        var stream: Stream
        var bytes: ByteBuffer
    }

    private enum Mode { case undecided, multiplexed, raw }

    private var mode = Mode.undecided
    private var header: [UInt8] = []
    private var stream = Stream.stdout
    private var remaining = 0

    init() {
        header.reserveCapacity(8)
    }

    /// The payload pieces in `buffer`, in order; throws on a malformed header after the first.
    mutating func append(_ buffer: ByteBuffer) throws(DockerError) -> [Piece] {
        var buffer = buffer
        var pieces: [Piece] = []
        while buffer.readableBytes > 0 {
            if mode == .raw {
                pieces.append(Piece(stream: .stdout, bytes: buffer))
                return pieces
            }
            if remaining > 0 {
                let count = min(remaining, buffer.readableBytes)
                pieces.append(Piece(stream: stream, bytes: buffer.readSlice(length: count)!))
                remaining -= count
                continue
            }
            let count = min(8 - header.count, buffer.readableBytes)
            header.append(contentsOf: buffer.readBytes(length: count)!)
            if !Self.couldBeHeader(header) {
                guard mode == .undecided else {
                    throw DockerError.protocolViolation(
                        "the log stream has a malformed frame header \(header.map { String($0, radix: 16) })"
                    )
                }
                mode = .raw
                pieces.append(Piece(stream: .stdout, bytes: ByteBuffer(bytes: header)))
                header.removeAll(keepingCapacity: true)
                continue
            }
            guard header.count == 8 else { break }
            mode = .multiplexed
            stream = Stream(rawValue: header[0])!
            remaining = Int(header[4]) << 24 | Int(header[5]) << 16 | Int(header[6]) << 8 | Int(header[7])
            header.removeAll(keepingCapacity: true)
        }
        return pieces
    }

    /// What is left when the stream ends: the bytes of a raw stream too short to tell; throws when
    /// a multiplexed stream ends inside a frame.
    mutating func finish() throws(DockerError) -> [Piece] {
        defer { header.removeAll() }
        if mode == .undecided, !header.isEmpty {
            return [Piece(stream: .stdout, bytes: ByteBuffer(bytes: header))]
        }
        if mode == .multiplexed, !header.isEmpty || remaining > 0 {
            throw DockerError.protocolViolation("the log stream ended inside a frame")
        }
        return []
    }

    /// Whether `prefix` (up to 8 bytes) can start a frame header.
    private static func couldBeHeader(_ prefix: [UInt8]) -> Bool {
        for (index, byte) in prefix.prefix(4).enumerated() {
            if index == 0 ? byte > 3 : byte != 0 { return false }
        }
        return true
    }
}

/// Splits the engine's event stream into lines: one JSON object per line, lines split anywhere
/// across reads. Empty lines are dropped; a line longer than ``maximumLineLength`` is a protocol
/// error rather than unbounded memory.
struct EventLineSplitter {
    /// The longest line kept, in bytes.
    let maximumLineLength: Int
    private var pending: [UInt8] = []

    init(maximumLineLength: Int = 1 << 20) {
        self.maximumLineLength = maximumLineLength
    }

    /// The complete lines in `buffer` together with what came before it, without their newlines.
    mutating func append(_ buffer: ByteBuffer) throws(DockerError) -> [ByteBuffer] {
        var lines: [ByteBuffer] = []
        let view = buffer.readableBytesView
        var start = view.startIndex
        while let newline = view[start...].firstIndex(of: UInt8(ascii: "\n")) {
            pending.append(contentsOf: view[start..<newline])
            if let line = takeLine() { lines.append(line) }
            start = view.index(after: newline)
        }
        pending.append(contentsOf: view[start...])
        if pending.count > maximumLineLength {
            pending.removeAll()
            throw DockerError.protocolViolation("an event line is longer than \(maximumLineLength) bytes")
        }
        return lines
    }

    /// The last line if the stream ended without a newline after it.
    mutating func finish() -> ByteBuffer? {
        takeLine()
    }

    private mutating func takeLine() -> ByteBuffer? {
        defer { pending.removeAll(keepingCapacity: true) }
        var line = pending[...]
        while let last = line.last, last == UInt8(ascii: "\r") || last == UInt8(ascii: " ") { line.removeLast() }
        while let first = line.first, first == UInt8(ascii: " ") { line.removeFirst() }
        return line.isEmpty ? nil : ByteBuffer(bytes: line)
    }
}
