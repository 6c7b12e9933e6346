import Crypto

/// A session token: who, until when, and a nonce, signed by auth with Ed25519.
public struct SignedToken: Sendable, Hashable {
    public var user: String
    /// Expiry, in seconds since the Unix epoch.
    public var expiresAt: UInt64
    public var nonce: UInt64
    /// The Ed25519 signature over ``signedBytes`` (64 bytes).
    public var signature: [UInt8]

    public init(user: String, expiresAt: UInt64, nonce: UInt64, signature: [UInt8]) {
        self.user = user
        self.expiresAt = expiresAt
        self.nonce = nonce
        self.signature = signature
    }

    /// The bytes the signature covers: a domain tag, then user, expiry and nonce as on the wire.
    public var signedBytes: [UInt8] {
        var writer = ByteWriter()
        writer.raw(Array("stormlab-token-v1".utf8))
        writer.string(user)
        writer.u64(expiresAt)
        writer.u64(nonce)
        return writer.bytes
    }

    func encode(into w: inout ByteWriter) {
        w.string(user)
        w.u64(expiresAt)
        w.u64(nonce)
        w.u8(UInt8(truncatingIfNeeded: signature.count))
        w.raw(signature)
    }

    static func decode(from r: inout ByteReader) throws(WireError) -> SignedToken {
        let user = try r.string()
        let expiresAt = try r.u64()
        let nonce = try r.u64()
        let length = Int(try r.u8())
        guard length == 64 else { throw WireError(.invalidValue, "token signature of \(length) bytes, not 64") }
        return SignedToken(user: user, expiresAt: expiresAt, nonce: nonce, signature: try r.raw(64, "signature"))
    }
}

/// Why a token was refused.
public enum TokenRejection: Error, Sendable, Hashable, CustomStringConvertible {
    /// The signature does not verify with the auth key: forged, altered, or signed by another key.
    case badSignature
    /// Valid, but past its expiry.
    case expired(expiresAt: UInt64, now: UInt64)

    public var description: String {
        switch self {
        case .badSignature: "token signature does not verify"
        case .expired(let expiresAt, let now): "token expired \(now - expiresAt) s ago"
        }
    }
}

/// Auth's signing key. Derived from the lab seed, so every instance of a lab agrees on it without
/// exchanging files, and a run can be repeated exactly.
public struct TokenSigner: Sendable {
    private let key: Curve25519.Signing.PrivateKey

    public init(key: Curve25519.Signing.PrivateKey) {
        self.key = key
    }

    /// The key derived from `seed` (SHA-256 of a domain tag and the seed).
    public init(seed: String) {
        let digest = SHA256.hash(data: Array("stormlab-auth-key:\(seed)".utf8))
        // A 32-byte raw representation is always valid for Ed25519.
        self.key = try! Curve25519.Signing.PrivateKey(rawRepresentation: Array(digest))
    }

    /// The verifying side of this key.
    public var verifier: TokenVerifier { TokenVerifier(key: key.publicKey) }

    /// Issues a token for `user` valid for `lifetime` seconds from `now`.
    public func issue(user: String, now: UInt64, lifetime: UInt64, nonce: UInt64) -> SignedToken {
        var token = SignedToken(user: user, expiresAt: now + lifetime, nonce: nonce, signature: [])
        // Signing with a valid key over a byte array does not fail.
        token.signature = Array(try! key.signature(for: token.signedBytes))
        return token
    }
}

/// Checks tokens with auth's public key.
public struct TokenVerifier: Sendable {
    public let key: Curve25519.Signing.PublicKey

    public init(key: Curve25519.Signing.PublicKey) {
        self.key = key
    }

    /// A verifier for a hex-encoded 32-byte public key; nil when malformed.
    public init?(hex: String) {
        guard let bytes = Hex.decode(hex), let key = try? Curve25519.Signing.PublicKey(rawRepresentation: bytes) else {
            return nil
        }
        self.key = key
    }

    /// The public key as 64 hex digits.
    public var hex: String { Hex.encode(Array(key.rawRepresentation)) }

    /// Accepts `token` if its signature verifies and it has not expired at `now`.
    public func verify(_ token: SignedToken, now: UInt64) throws(TokenRejection) {
        guard key.isValidSignature(token.signature, for: token.signedBytes) else { throw .badSignature }
        guard token.expiresAt > now else { throw .expired(expiresAt: token.expiresAt, now: now) }
    }
}

/// Lower-case hexadecimal.
public enum Hex {
    public static func encode(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef")
        return String(bytes.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 0xF)]] })
    }

    public static func decode(_ text: String) -> [UInt8]? {
        let characters = Array(text.utf8)
        guard characters.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(characters.count / 2)
        for index in stride(from: 0, to: characters.count, by: 2) {
            guard let high = nibble(characters[index]), let low = nibble(characters[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
        }
        return bytes
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

/// The synthetic users of a lab: `user-N`, each with a password derived from the lab seed.
public enum SyntheticUsers {
    /// `user-N`'s password under `seed`: 16 hex digits of SHA-256 over a tag, the seed and the name.
    public static func password(for user: String, seed: String) -> String {
        let digest = SHA256.hash(data: Array("stormlab-user:\(seed):\(user)".utf8))
        return Hex.encode(Array(digest.prefix(8)))
    }

    /// The N of `user-N`, or nil when `name` is not of that form.
    public static func number(of name: String) -> Int? {
        guard name.hasPrefix("user-"), let number = Int(name.dropFirst(5)), number >= 1 else { return nil }
        return number
    }
}
