import Testing

@testable import LabSpec

/// The small grammars inside Compose values: interpolation, durations, ports, command lines, env files.
@Suite struct SyntaxTests {
    static let variables = ["SET": "value", "EMPTY": "", "OTHER": "other"]

    @Test(arguments: [
        ("plain text", "plain text"),
        ("$SET", "value"),
        ("${SET}", "value"),
        ("a${SET}b$SET.c", "avalueb" + "value.c"),
        ("$$", "$"),
        ("$$SET", "$SET"),
        ("cost: $$5", "cost: $5"),
        ("${UNSET:-default}", "default"),
        ("${EMPTY:-default}", "default"),
        ("${EMPTY-default}", ""),
        ("${UNSET-default}", "default"),
        ("${SET:-default}", "value"),
        ("${UNSET:-${OTHER}}", "other"),
        ("${UNSET:-${ALSO_UNSET:-deep}}", "deep"),
        ("${SET:+alt}", "alt"),
        ("${EMPTY:+alt}", ""),
        ("${EMPTY+alt}", "alt"),
        ("${UNSET+alt}", ""),
        ("${SET:?never shown}", "value"),
        ("${EMPTY?fine when empty}", ""),
        ("${UNSET:-a}}", "a}"),
    ])
    func interpolationExpands(text: String, expected: String) {
        let (value, issues) = Interpolation.expand(text) { Self.variables[$0] }
        #expect(value == expected)
        #expect(issues.isEmpty)
    }

    @Test(arguments: [
        ("x$UNSET", 1, Diagnostic.Severity.warning, #"variable "UNSET" is not set; using an empty string"#),
        ("${UNSET:?set it}", 0, .error, "required variable UNSET is missing a value: set it"),
        ("ab${UNSET?}", 2, .error, "required variable UNSET is missing a value"),
        ("${EMPTY:?}", 0, .error, "required variable EMPTY is empty"),
        ("${UNSET:?needs ${OTHER}}", 0, .error, "required variable UNSET is missing a value: needs other"),
        ("$ 5", 0, .error, #"invalid interpolation: "$" must be followed by a variable name or "{"; write "$$" for a literal "$""#),
        ("end$", 3, .error, #"invalid interpolation: "$" must be followed by a variable name or "{"; write "$$" for a literal "$""#),
        ("${SET", 0, .error, #"invalid interpolation: "${" has no closing "}""#),
        ("${}", 0, .error, "invalid interpolation: ${} needs a variable name"),
        (
            "${SET!x}", 0, .error,
            "invalid interpolation: ${SET!x} must be ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}, ${NAME:+value} or ${NAME+value}"
        ),
    ])
    func interpolationReportsProblemsWithOffsets(
        text: String, offset: Int, severity: Diagnostic.Severity, message: String
    ) {
        let (_, issues) = Interpolation.expand(text) { Self.variables[$0] }
        #expect(issues == [Interpolation.Issue(offset: offset, severity: severity, message: message)])
    }

    @Test(arguments: [
        ("0", Duration.zero),
        ("10s", .seconds(10)),
        ("250ms", .milliseconds(250)),
        ("1m30s", .seconds(90)),
        ("1h", .seconds(3600)),
        ("1.5s", .milliseconds(1500)),
        ("2h45m10s", .seconds(9910)),
        ("100us", .microseconds(100)),
        ("100µs", .microseconds(100)),
        ("42ns", .nanoseconds(42)),
        (".5m", .seconds(30)),
    ])
    func durationsParseAndFormatBack(text: String, expected: Duration) throws {
        let parsed = try ComposeDuration.parse(text).get()
        #expect(parsed == expected)
        #expect(try ComposeDuration.parse(ComposeDuration.format(parsed)).get() == expected)
    }

    @Test(arguments: [
        ("", "it is empty"),
        ("10", "missing unit after 10 (use ns, us, ms, s, m or h)"),
        ("1m30", "missing unit after 30 (use ns, us, ms, s, m or h)"),
        ("10x", #"unknown unit "x" (use ns, us, ms, s, m or h)"#),
        ("10 s", #"unknown unit " s" (use ns, us, ms, s, m or h)"#),
        ("-5s", "it is negative"),
        ("s", #"expected a number at "s""#),
        ("1.2.3s", #"expected a number at "1.2.3s""#),
        ("99999999999h", "it is out of range"),
    ])
    func badDurationsSayWhy(text: String, reason: String) {
        #expect(throws: ComposeDuration.ParseFailure.self) { try ComposeDuration.parse(text).get() }
        if case .failure(let failure) = ComposeDuration.parse(text) { #expect(failure.reason == reason) }
    }

    @Test(arguments: [
        (Duration.seconds(90), "1m30s"), (.milliseconds(250), "250ms"), (.zero, "0s"),
        (.seconds(3600), "1h"), (.milliseconds(1500), "1.5s"), (.seconds(3605), "1h5s"),
    ])
    func durationsFormatLikeCompose(duration: Duration, text: String) {
        #expect(ComposeDuration.format(duration) == text)
    }

    @Test(arguments: [
        ("8080", [PortMapping(target: 8080)]),
        ("8080:80", [PortMapping(target: 80, published: 8080)]),
        ("127.0.0.1:8080:80/tcp", [PortMapping(target: 80, published: 8080, hostIP: "127.0.0.1")]),
        ("127.0.0.1::80", [PortMapping(target: 80, hostIP: "127.0.0.1")]),
        ("53:53/udp", [PortMapping(target: 53, published: 53, protocol: .udp)]),
        ("3000-3001", [PortMapping(target: 3000), PortMapping(target: 3001)]),
        ("[::1]:6001:6001", [PortMapping(target: 6001, published: 6001, hostIP: "::1")]),
        ("::1:6000:6000", [PortMapping(target: 6000, published: 6000, hostIP: "::1")]),
        ("fe80::1:7000:70/sctp", [PortMapping(target: 70, published: 7000, hostIP: "fe80::1", protocol: .sctp)]),
    ])
    func shortPortSyntax(text: String, expected: [PortMapping]) throws {
        #expect(try PortSyntax.parse(text, publishing: true).get() == expected)
    }

    @Test(arguments: [
        ("0", #""0" is not a port number (1-65535)"#),
        ("65536", #""65536" is not a port number (1-65535)"#),
        ("http", #""http" is not a port number (1-65535)"#),
        ("80/quic", #"unknown protocol "quic" (use tcp, udp or sctp)"#),
        ("90-80", "the range 90-80 ends before it starts"),
        ("1-2-3", #""1-2-3" is not a port or a range"#),
        ("300.0.0.1:80:80", #""300.0.0.1" is not an IP address"#),
        ("[::1]8080:80", #"a bracketed host address must be followed by ":""#),
        ("8000-8001:80", "the published range has 2 ports but the target has 1"),
        ("", #""" is not a port number (1-65535)"#),
    ])
    func badPortsSayWhy(text: String, reason: String) {
        guard case .failure(let failure) = PortSyntax.parse(text, publishing: true) else {
            Issue.record("\(text) was accepted")
            return
        }
        #expect(failure.reason == reason)
    }

    @Test(arguments: [
        ("server --port 80", ["server", "--port", "80"]),
        ("  spaced   out  ", ["spaced", "out"]),
        (#"sh -c 'echo "hi there"'"#, ["sh", "-c", #"echo "hi there""#]),
        (#"echo "a \"quoted\" \$word""#, ["echo", #"a "quoted" $word"#]),
        (#"one\ word"#, ["one word"]),
        (#"empty "" ''"#, ["empty", "", ""]),
        (#"mi"x"'ed'"#, ["mixed"]),
        ("", []),
    ])
    func commandLinesSplitLikeAShell(line: String, words: [String]) throws {
        #expect(try ShellWords.split(line).get() == words)
    }

    @Test(arguments: [
        (#"echo "open"#, "a double quote is not closed"),
        ("echo 'open", "a single quote is not closed"),
        (#"trailing\"#, #"it ends with a lone "\""#),
    ])
    func badCommandLinesSayWhy(line: String, reason: String) {
        #expect(throws: ShellWords.Failure(reason: reason)) { try ShellWords.split(line).get() }
    }

    @Test func envFileForms() {
        let text = """
            # comment

              INDENTED=yes
            export EXPORTED=1
            SINGLE='literal ${SET} # not a comment'
            DOUBLE="line\\nbreak ${SET}"
            UNQUOTED=  spaced value   # comment
            HASH=a#b
            EMPTY=
            REUSE=${UNQUOTED}!
            SET
            UNKNOWN_BARE
            """
        let env = DotEnv(text: text, file: "app.env") { Self.variables[$0] }
        #expect(env.diagnostics.isEmpty)
        #expect(
            env.entries == [
                .init(key: "INDENTED", value: "yes"), .init(key: "EXPORTED", value: "1"),
                .init(key: "SINGLE", value: "literal ${SET} # not a comment"),
                .init(key: "DOUBLE", value: "line\nbreak value"), .init(key: "UNQUOTED", value: "spaced value"),
                .init(key: "HASH", value: "a#b"), .init(key: "EMPTY", value: ""),
                .init(key: "REUSE", value: "spaced value!"), .init(key: "SET", value: "value"),
            ])
    }

    @Test(arguments: [
        ("imgae", "image"), ("enviroment", "environment"), ("ports", "ports"), ("helthcheck", "healthcheck"),
        ("dependson", "depends_on"), ("stop_signl", "stop_signal"),
    ])
    func suggestionsFindTypos(typo: String, suggestion: String) {
        #expect(EditDistance.suggestion(for: typo, among: KeySet.service.all) == suggestion)
    }

    @Test func noSuggestionForUnrelatedKeys() {
        #expect(EditDistance.suggestion(for: "frobnicate", among: KeySet.service.all) == nil)
        #expect(EditDistance.between("imgae", "image") == 1)
        #expect(EditDistance.between("", "abc") == 3)
    }
}
