import Testing
@testable import OverlayWire

@Suite struct TokenTests {
    let signer = TokenSigner(seed: "lab-seed")

    @Test func aFreshTokenVerifies() throws {
        let token = signer.issue(user: "user-1", now: 1_000, lifetime: 60, nonce: 1)
        try signer.verifier.verify(token, now: 1_059)
    }

    @Test func anExpiredTokenIsRefused() {
        let token = signer.issue(user: "user-1", now: 1_000, lifetime: 60, nonce: 1)
        #expect(throws: TokenRejection.expired(expiresAt: 1_060, now: 1_060)) { try signer.verifier.verify(token, now: 1_060) }
    }

    @Test(arguments: ["user", "expiry", "nonce", "signature"])
    func anAlteredTokenIsRefused(_ field: String) {
        var token = signer.issue(user: "user-1", now: 1_000, lifetime: 60, nonce: 1)
        switch field {
        case "user": token.user = "user-2"
        case "expiry": token.expiresAt += 3600
        case "nonce": token.nonce += 1
        default: token.signature[0] ^= 1
        }
        #expect(throws: TokenRejection.badSignature) { try signer.verifier.verify(token, now: 1_001) }
    }

    @Test func aTokenFromAnotherKeyIsRefused() {
        let forged = TokenSigner(seed: "another-lab").issue(user: "user-1", now: 1_000, lifetime: 60, nonce: 1)
        #expect(throws: TokenRejection.badSignature) { try signer.verifier.verify(forged, now: 1_001) }
    }

    @Test func theSameSeedGivesTheSameKey() throws {
        let token = signer.issue(user: "user-3", now: 1_000, lifetime: 60, nonce: 5)
        try TokenSigner(seed: "lab-seed").verifier.verify(token, now: 1_001)
        let viaHex = try #require(TokenVerifier(hex: signer.verifier.hex))
        try viaHex.verify(token, now: 1_001)
        #expect(TokenVerifier(hex: "zz") == nil)
    }

    @Test func syntheticPasswordsDependOnSeedAndUser() {
        let a = SyntheticUsers.password(for: "user-1", seed: "s")
        #expect(a.count == 16)
        #expect(a == SyntheticUsers.password(for: "user-1", seed: "s"))
        #expect(a != SyntheticUsers.password(for: "user-2", seed: "s"))
        #expect(a != SyntheticUsers.password(for: "user-1", seed: "t"))
        #expect(SyntheticUsers.number(of: "user-12") == 12)
        #expect(SyntheticUsers.number(of: "user-0") == nil)
        #expect(SyntheticUsers.number(of: "admin") == nil)
    }

    @Test func endpointsParse() {
        #expect(Endpoint(parsing: "127.0.0.1:7100") == Endpoint(host: "127.0.0.1", port: 7100))
        #expect(Endpoint(parsing: "[::1]:80") == Endpoint(host: "::1", port: 80))
        #expect(Endpoint(parsing: "auth:7100") == Endpoint(host: "auth", port: 7100))
        #expect(Endpoint(parsing: "nohost") == nil)
        #expect(Endpoint(parsing: ":80") == nil)
        #expect(Endpoint(parsing: "h:99999") == nil)
        #expect(Endpoint(host: "::1", port: 80).description == "[::1]:80")
    }
}
