import Assertions
import Testing

@Suite struct RegexTests {
    @Test(arguments: [
        ("api", "api", true), ("api", "api-1", false), ("api.*", "api-1", true), ("a.c", "abc", true),
        ("a.c", "a\nc", false), ("ab+c", "ac", false), ("ab+c", "abbbc", true), ("ab?c", "ac", true),
        ("auth|supernode", "supernode", true), ("auth|supernode", "client", false), ("(sn|cl)-\\d+", "sn-12", true),
        ("(sn|cl)-\\d+", "sn-", false), ("[a-c]+", "abcab", true), ("[a-c]+", "abd", false), ("[^0-9]*", "abc", true),
        ("[^0-9]*", "a1", false), ("5..", "503", true), ("5..", "200", false), ("2[0-9]{2}", "204", true),
        ("2[0-9]{2}", "2040", false), ("x{2,}", "xxxx", true), ("x{2,3}", "xxxx", false), ("(?:ab)*", "ababab", true),
        ("(?i)API", "api", true), ("\\w+\\s\\w+", "a b", true), ("a\\.b", "a.b", true), ("a\\.b", "axb", false),
        ("", "", true), ("", "x", false), (".*", "", true), ("(a*)*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaac", false),
        ("^foo$", "foo", true), ("[\\d.]+", "1.5", true), ("a|", "", true), ("{x", "{x", true),
    ])
    func matches(pattern: String, input: String, expected: Bool) throws {
        #expect(try LabelRegex(pattern).matches(input) == expected)
    }

    @Test(arguments: ["(", "a)", "[a", "*a", "a**", "\\b", "[z-a]", "(?P<n>x)", "\\"])
    func rejects(pattern: String) {
        #expect(throws: LabelRegex.SyntaxError.self) { try LabelRegex(pattern) }
    }

    @Test func matchers() throws {
        let labels: Labels = ["service": "supernode", "instance": "supernode-3"]
        #expect(try LabelMatcher(name: "service", .equal, "supernode").matches(labels))
        #expect(try LabelMatcher(name: "service", .notEqual, "auth").matches(labels))
        #expect(try LabelMatcher(name: "instance", .regexMatch, "supernode-[0-9]+").matches(labels))
        #expect(try !LabelMatcher(name: "instance", .regexNoMatch, "supernode-.*").matches(labels))
        // An absent label matches the empty string.
        #expect(try LabelMatcher(name: "zone", .equal, "").matches(labels))
        #expect(try LabelMatcher(name: "zone", .regexMatch, "a?").matches(labels))
    }
}
