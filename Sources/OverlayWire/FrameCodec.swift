/// The overlay's framing: a 4-byte big-endian length, then that many bytes: one kind byte and the
/// message's fields. Integers are big-endian; strings are a 2-byte length and UTF-8; lists a
/// 2-byte count and their elements; an optional a flag byte (0 or 1) then the value.
///
/// Decoding is pure and total: any byte sequence yields a message, "need more bytes", or a
/// ``WireError``. A length above ``maximumFrameLength`` is rejected before anything is buffered,
/// so a peer cannot make a decoder hold more than one frame's worth of memory.
public enum FrameCodec {
    /// The largest frame body accepted, in bytes.
    public static let maximumFrameLength = 64 * 1024
    /// The longest list in any message.
    public static let maximumListCount = 4096

    /// Encodes `message` as one complete frame, length prefix included.
    public static func encode(_ message: Message) -> [UInt8] {
        var writer = ByteWriter()
        writer.u32(0)
        writer.u8(message.kind.rawValue)
        message.encodeFields(into: &writer)
        let length = UInt32(writer.bytes.count - 4)
        writer.bytes[0] = UInt8(truncatingIfNeeded: length >> 24)
        writer.bytes[1] = UInt8(truncatingIfNeeded: length >> 16)
        writer.bytes[2] = UInt8(truncatingIfNeeded: length >> 8)
        writer.bytes[3] = UInt8(truncatingIfNeeded: length)
        return writer.bytes
    }

    /// Reads a frame's length prefix from the first four bytes of `header`. Returns nil when fewer
    /// than four bytes are there; throws when the length is zero or above the limit.
    public static func frameLength(header: some Collection<UInt8>) throws(WireError) -> Int? {
        guard header.count >= 4 else { return nil }
        var length = 0
        for byte in header.prefix(4) { length = length << 8 | Int(byte) }
        if length == 0 { throw WireError(.emptyFrame, "frame length is zero") }
        if length > maximumFrameLength {
            throw WireError(.oversizedFrame, "frame length \(length) exceeds \(maximumFrameLength)")
        }
        return length
    }

    /// Decodes one frame body (kind byte and fields, without the length prefix).
    public static func decode(body: ArraySlice<UInt8>) throws(WireError) -> Message {
        var reader = ByteReader(body)
        let rawKind = try reader.u8()
        guard let kind = MessageKind(rawValue: rawKind) else {
            throw WireError(.unknownKind, "unknown message kind \(rawKind)")
        }
        let message = try Message.decodeFields(kind: kind, from: &reader)
        if !reader.isAtEnd {
            throw WireError(.trailingBytes, "\(reader.remaining) bytes after a \(kind) message")
        }
        return message
    }
}

/// Turns a byte stream into messages, frame by frame. Holds at most one frame plus its prefix.
public struct FrameDecoder: Sendable {
    private var buffer: [UInt8] = []
    private var start = 0

    public init() {}

    /// Appends bytes read from the stream.
    public mutating func append(_ bytes: some Sequence<UInt8>) {
        buffer.append(contentsOf: bytes)
    }

    /// Bytes received but not yet consumed by a whole frame.
    public var bufferedByteCount: Int { buffer.count - start }

    /// The next whole message, nil when more bytes are needed. After an error the stream is
    /// unusable: close the connection.
    public mutating func next() throws(WireError) -> Message? {
        let available = buffer.count - start
        guard let length = try FrameCodec.frameLength(header: buffer[start...]) else { return nil }
        guard available >= 4 + length else { return nil }
        let body = buffer[(start + 4)..<(start + 4 + length)]
        start += 4 + length
        defer { compact() }
        return try FrameCodec.decode(body: body)
    }

    private mutating func compact() {
        if start == buffer.count {
            buffer.removeAll(keepingCapacity: buffer.capacity <= 2 * FrameCodec.maximumFrameLength)
            start = 0
        } else if start > 16 * 1024 {
            buffer.removeFirst(start)
            start = 0
        }
    }
}

// MARK: - Fields

extension Message {
    func encodeFields(into w: inout ByteWriter) {
        switch self {
        case .login(let user, let password):
            w.string(user)
            w.string(password)
        case .token(let token):
            token.encode(into: &w)
        case .busy(let retryAfter, let reason):
            w.u32(retryAfter)
            w.string(reason)
        case .attach(let token, let process, let onlineSeconds):
            token.encode(into: &w)
            w.string(process)
            w.u32(onlineSeconds)
        case .attached(let supernode, let peers):
            w.string(supernode)
            w.list(peers) { $0.encode(into: &$1) }
        case .redirect(let endpoint, let reason):
            endpoint.encode(into: &w)
            w.string(reason)
        case .heartbeat(let sequence):
            w.u64(sequence)
        case .heartbeatAck(let sequence, let load):
            w.u64(sequence)
            w.u16(load)
        case .lookup(let requestID, let user):
            w.u64(requestID)
            w.string(user)
        case .lookupResult(let requestID, let user, let location):
            w.u64(requestID)
            w.string(user)
            w.optional(location) { $1.string($0) }
        case .peers(let peers):
            w.list(peers) { $0.encode(into: &$1) }
        case .register(let supernode, let users):
            w.string(supernode)
            w.list(users) { $1.string($0) }
        case .promote(let reason):
            w.string(reason)
        case .error(let code, let message):
            w.u16(code.rawValue)
            w.string(message)
        }
    }

    static func decodeFields(kind: MessageKind, from r: inout ByteReader) throws(WireError) -> Message {
        switch kind {
        case .login:
            return .login(user: try r.string(), password: try r.string())
        case .token:
            return .token(try SignedToken.decode(from: &r))
        case .busy:
            return .busy(retryAfterMillis: try r.u32(), reason: try r.string())
        case .attach:
            return .attach(token: try SignedToken.decode(from: &r), process: try r.string(), onlineSeconds: try r.u32())
        case .attached:
            return .attached(supernode: try r.string(), peers: try r.list { (r: inout ByteReader) throws(WireError) in try PeerInfo.decode(from: &r) })
        case .redirect:
            return .redirect(to: try Endpoint.decode(from: &r), reason: try r.string())
        case .heartbeat:
            return .heartbeat(sequence: try r.u64())
        case .heartbeatAck:
            return .heartbeatAck(sequence: try r.u64(), loadPerMille: try r.u16())
        case .lookup:
            return .lookup(requestID: try r.u64(), user: try r.string())
        case .lookupResult:
            return .lookupResult(requestID: try r.u64(), user: try r.string(), location: try r.optional { (r: inout ByteReader) throws(WireError) in try r.string() })
        case .peers:
            return .peers(try r.list { (r: inout ByteReader) throws(WireError) in try PeerInfo.decode(from: &r) })
        case .register:
            return .register(supernode: try r.string(), users: try r.list { (r: inout ByteReader) throws(WireError) in try r.string() })
        case .promote:
            return .promote(reason: try r.string())
        case .error:
            let raw = try r.u16()
            return .error(code: ErrorCode(rawValue: raw) ?? .unknown, message: try r.string())
        }
    }
}

extension Endpoint {
    func encode(into w: inout ByteWriter) {
        w.string(host)
        w.u16(port)
    }

    static func decode(from r: inout ByteReader) throws(WireError) -> Endpoint {
        let host = try r.string()
        let port = try r.u16()
        if host.isEmpty { throw WireError(.invalidValue, "empty host in endpoint") }
        return Endpoint(host: host, port: port)
    }
}

extension PeerInfo {
    func encode(into w: inout ByteWriter) {
        w.string(name)
        endpoint.encode(into: &w)
        w.u32(clients)
        w.u32(capacity)
        w.bool(promoted)
    }

    static func decode(from r: inout ByteReader) throws(WireError) -> PeerInfo {
        PeerInfo(
            name: try r.string(),
            endpoint: try Endpoint.decode(from: &r),
            clients: try r.u32(),
            capacity: try r.u32(),
            promoted: try r.bool()
        )
    }
}

// MARK: - Primitive readers and writers

struct ByteWriter {
    var bytes: [UInt8] = []

    mutating func u8(_ value: UInt8) { bytes.append(value) }
    mutating func u16(_ value: UInt16) {
        bytes.append(UInt8(truncatingIfNeeded: value >> 8))
        bytes.append(UInt8(truncatingIfNeeded: value))
    }
    mutating func u32(_ value: UInt32) {
        for shift in stride(from: 24, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt32(shift))) }
    }
    mutating func u64(_ value: UInt64) {
        for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
    }
    mutating func bool(_ value: Bool) { u8(value ? 1 : 0) }
    /// Strings longer than 65,535 UTF-8 bytes are cut at that length (never produced by the overlay).
    mutating func string(_ value: String) {
        let utf8 = Array(value.utf8.prefix(Int(UInt16.max)))
        u16(UInt16(utf8.count))
        bytes.append(contentsOf: utf8)
    }
    mutating func raw(_ value: some Collection<UInt8>) { bytes.append(contentsOf: value) }
    mutating func list<T>(_ values: [T], _ element: (T, inout ByteWriter) -> Void) {
        let count = min(values.count, FrameCodec.maximumListCount)
        u16(UInt16(count))
        for value in values.prefix(count) { element(value, &self) }
    }
    mutating func optional<T>(_ value: T?, _ element: (T, inout ByteWriter) -> Void) {
        if let value {
            u8(1)
            element(value, &self)
        } else {
            u8(0)
        }
    }
}

struct ByteReader {
    private let bytes: ArraySlice<UInt8>
    private var index: Int

    init(_ bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        self.index = bytes.startIndex
    }

    var isAtEnd: Bool { index == bytes.endIndex }
    var remaining: Int { bytes.endIndex - index }

    private mutating func take(_ count: Int, _ what: String) throws(WireError) -> ArraySlice<UInt8> {
        guard remaining >= count else {
            throw WireError(.truncatedField, "\(what) needs \(count) bytes, \(remaining) left")
        }
        defer { index += count }
        return bytes[index..<(index + count)]
    }

    private mutating func integer(_ size: Int, _ what: String) throws(WireError) -> UInt64 {
        var value: UInt64 = 0
        for byte in try take(size, what) { value = value << 8 | UInt64(byte) }
        return value
    }

    mutating func u8() throws(WireError) -> UInt8 { UInt8(try integer(1, "u8")) }
    mutating func u16() throws(WireError) -> UInt16 { UInt16(try integer(2, "u16")) }
    mutating func u32() throws(WireError) -> UInt32 { UInt32(try integer(4, "u32")) }
    mutating func u64() throws(WireError) -> UInt64 { try integer(8, "u64") }

    mutating func bool() throws(WireError) -> Bool {
        switch try u8() {
        case 0: return false
        case 1: return true
        case let other: throw WireError(.invalidValue, "flag byte \(other) is neither 0 nor 1")
        }
    }

    mutating func raw(_ count: Int, _ what: String) throws(WireError) -> [UInt8] {
        Array(try take(count, what))
    }

    mutating func string() throws(WireError) -> String {
        let length = Int(try u16())
        let utf8 = try take(length, "string of \(length) bytes")
        guard let string = String(validating: utf8, as: UTF8.self) else {
            throw WireError(.invalidUTF8, "string is not valid UTF-8")
        }
        return string
    }

    mutating func list<T>(_ element: (inout ByteReader) throws(WireError) -> T) throws(WireError) -> [T] {
        let count = Int(try u16())
        if count > FrameCodec.maximumListCount {
            throw WireError(.tooManyElements, "list of \(count) exceeds \(FrameCodec.maximumListCount)")
        }
        var values: [T] = []
        values.reserveCapacity(min(count, remaining))
        for _ in 0..<count { values.append(try element(&self)) }
        return values
    }

    mutating func optional<T>(_ element: (inout ByteReader) throws(WireError) -> T) throws(WireError) -> T? {
        try bool() ? try element(&self) : nil
    }
}
