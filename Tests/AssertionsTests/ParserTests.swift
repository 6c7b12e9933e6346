import Assertions
import Testing

@Suite struct ParserTests {
    @Test(arguments: [
        ("sum(rate(x[5m])", 4, "unclosed left parenthesis"),
        ("foo{a=\"b\"", 10, "unexpected end of input inside braces"),
        ("rate(foo)", 6, "expected type range vector in call to function \"rate\", got instant vector"),
        ("foo[5x]", 5, "bad number or duration syntax \"5x\""),
        ("1 > 2", 3, "comparisons between scalars must use BOOL modifier"),
        ("foo + bool bar", 7, "bool modifier can only be used on comparison operators"),
        ("foo / on(a) group_left bar", 13, "group_left (many-to-one matching) is not supported"),
        ("unknown_fn(foo)", 1, "unknown function with name \"unknown_fn\""),
        ("foo{a=~\"(\"}", 8, "invalid regular expression \"(\": missing closing )"),
        ("{}", 1, "vector selector must contain at least one non-empty matcher"),
        ("{a=~\".*\"}", 1, "vector selector must contain at least one non-empty matcher"),
        ("1 and 2", 3, "set operator \"and\" not allowed in binary scalar expression"),
        ("foo @ 10", 5, "the @ modifier is not supported"),
        ("foo offset", 11, "unexpected end of input, expected a duration after offset"),
        ("(1 + 2", 1, "unclosed left parenthesis"),
        ("rate(foo[5m:1m])", 12, "subqueries are not supported"),
        ("abs(foo, bar)", 1, "expected 1 argument(s) in call to \"abs\", got 2"),
        ("foo[5m] + 1", 9, "binary expression must contain only scalar and instant vector types"),
        ("1 + ", 5, "unexpected end of input"),
        ("foo{a!b=\"c\"}", 6, "unexpected character after \"!\""),
        ("sum by (a) foo", 12, "unexpected identifier \"foo\", expected \"(\""),
        ("topk(3, foo)", 1, "aggregation \"topk\" is not supported"),
        ("-foo[5m]", 1, "unary expression only allowed on expressions of type scalar or instant vector"),
        ("\"str\"", 1, "string literals are not supported"),
        ("foo > 5m", 7, "unexpected duration \"5m\", a number has no unit"),
        ("foo{__name__=\"bar\"}", 5, "metric name must not be set twice"),
        ("foo bar", 5, "unexpected identifier \"bar\", expected an operator or the end of input"),
        ("(foo))", 6, "unexpected right parenthesis \")\""),
        ("sum(rate(x[5m]))[1m]", 17, "ranges only allowed for vector selectors"),
        ("histogram_quantile(foo, bar)", 20, "expected type scalar in call to function \"histogram_quantile\", got instant vector"),
        ("foo + on(a) 1", 5, "vector matching only allowed between instant vectors"),
        ("x[0s]", 3, "range must be greater than 0"),
        ("sum(x, y)", 6, "wrong number of arguments for aggregate expression provided, expected 1"),
        ("", 1, "no expression found in input"),
        ("foo{a=\"b", 7, "unterminated quoted string"),
        ("abs(foo) offset 5m", 10, "offset modifier must be preceded by an instant vector selector or range vector selector"),
        ("sum(foo[1m])", 5, "expected type instant vector in aggregation expression, got range vector"),
        ("max_over_time(foo)", 15, "expected type range vector in call to function \"max_over_time\", got instant vector"),
    ] as [(String, Int, String)])
    func parseErrors(text: String, column: Int, message: String) {
        #expect(throws: SLIParseError.self) { try SLIExpression.parse(text) }
        do {
            _ = try SLIExpression.parse(text)
        } catch {
            #expect(error.column == column, "\(text)")
            #expect(error.message == message, "\(text)")
        }
    }

    @Test(arguments: [
        "up", "up{service=\"auth\"}", "rate(http_requests_total{code=~\"5..\"}[5m] offset 1m)",
        "sum by (service) (rate(x[10s])) / sum(rate(y[10s])) by (service)",
        "histogram_quantile(0.9, sum without (instance) (rate(h_bucket[1m])))",
        "x > bool 0.5 and on(service) y unless ignoring(code) z or w", "-x ^ 2 % 3", "clamp_min(x, 0)",
        "vector(1) + scalar(up) * time()", "x[1m30s]", "job:rate5m", "foo{on=\"1\", by=\"2\",}", "x offset -5s",
        "1e3 + 0x1f - .5 + Inf - -2", "count(x) # a comment", "avg_over_time(x[250ms])",
    ])
    func validExpressionsParse(text: String) throws {
        let expression = try SLIExpression.parse(text)
        // The printed form parses back to the same tree.
        #expect(try SLIExpression.parse(expression.description) == expression)
    }

    @Test(arguments: [
        ("1 + 2 * 3", 7.0), ("(1 + 2) * 3", 9), ("2 ^ 3 ^ 2", 512), ("-2 ^ 2", -4), ("1 - 2 - 3", -4), ("2 * 3 % 4", 2),
        ("1 + 2 == bool 3", 1), ("2 > bool 3", 0), ("1 < bool 2 + 1", 1), ("10 % 3", 1), ("-7 % 3", -1),
        ("2 ^ -1", 0.5), ("- - 3", 3), ("+3", 3), ("1 / 0", .infinity), ("0x10", 16), ("1e-3 * 1000", 1),
    ])
    func scalarPrecedence(text: String, expected: Double) throws {
        #expect(try scalarResult(eval(text, SeriesStore(), at: 0)) == expected)
    }

    @Test func durations() throws {
        guard case .matrixSelector(_, let range) = try SLIExpression.parse("x[1h2m3s4ms]") else {
            Issue.record("not a range selector")
            return
        }
        #expect(range == 3_723_004)
        guard case .vectorSelector(let selector) = try SLIExpression.parse("x offset 250ms") else { return }
        #expect(selector.offset == 250)
        #expect(try SLIExpression.parse("x[1d]").description == "x[1d]")
        #expect(throws: SLIParseError.self) { try SLIExpression.parse("x[1s1m]") }
    }

    @Test func errorCodes() {
        for (text, code) in [("foo @ 1", SLIParseError.Code.unsupported), ("rate(x)", .type), ("x{", .syntax)] {
            do {
                _ = try SLIExpression.parse(text)
                Issue.record("\(text) parsed")
            } catch {
                #expect(error.code == code)
            }
        }
    }
}
