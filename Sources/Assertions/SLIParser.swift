/// An SLI expression that could not be parsed: where (1-based column) and why.
public struct SLIParseError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The kind of problem.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable, Hashable {
            case syntax, type, unsupported
        }
        private let base: Base

        /// Not valid PromQL: a bad token, a missing bracket, an unknown function.
        public static let syntax = Code(base: .syntax)
        /// Valid syntax with operands of the wrong type (`rate(x)`, `1 > 2`).
        public static let type = Code(base: .type)
        /// Valid PromQL that this subset does not implement (`group_left`, subqueries, `@`).
        public static let unsupported = Code(base: .unsupported)

        public var description: String { base.rawValue }
    }

    /// The kind of problem.
    public var code: Code
    /// The 1-based column, counted in Unicode scalars over the whole input, of the token at
    /// fault (for an operator whose operands do not fit: the operator; at the end: length + 1).
    public var column: Int
    /// What is wrong, in Prometheus' words where it has them.
    public var message: String

    /// Creates an error.
    public init(code: Code, column: Int, message: String) {
        self.code = code
        self.column = column
        self.message = message
    }

    public var description: String { "column \(column): \(message)" }
}

extension SLIExpression {
    /// Parses an SLI expression, checking types as Prometheus' parser does.
    public static func parse(_ text: String) throws(SLIParseError) -> SLIExpression {
        var parser = try SLIParser(text)
        return try parser.parseTop()
    }
}

struct Token: Equatable {
    enum Kind: Equatable {
        case identifier(String)
        case number(Double)
        case duration(Int64)
        case string(String)
        case leftParen, rightParen, leftBrace, rightBrace, leftBracket, rightBracket, comma, colon
        case assign, notEqual, regexMatch, regexNoMatch
        case `operator`(BinaryOperator)
        case at
        case end
    }

    var kind: Kind
    var column: Int

    var text: String {
        switch kind {
        case .identifier(let name): name
        case .number(let value): formatFloat(value)
        case .duration(let value): formatDuration(value)
        case .string(let value): "\"\(value)\""
        case .leftParen: "("
        case .rightParen: ")"
        case .leftBrace: "{"
        case .rightBrace: "}"
        case .leftBracket: "["
        case .rightBracket: "]"
        case .comma: ","
        case .colon: ":"
        case .assign: "="
        case .notEqual: "!="
        case .regexMatch: "=~"
        case .regexNoMatch: "!~"
        case .operator(let op): op.rawValue
        case .at: "@"
        case .end: "end of input"
        }
    }

    var described: String {
        switch kind {
        case .end: "end of input"
        case .identifier(let name): "identifier \"\(name)\""
        case .number: "number \"\(text)\""
        case .duration: "duration \"\(text)\""
        case .string: "string \(text)"
        default: "\"\(text)\""
        }
    }
}

/// Splits an expression into tokens; whitespace and `#` comments are skipped.
struct SLILexer {
    private let scalars: [Unicode.Scalar]
    private var index = 0

    init(_ text: String) { scalars = Array(text.unicodeScalars) }

    static func tokenize(_ text: String) throws(SLIParseError) -> [Token] {
        var lexer = SLILexer(text)
        var tokens: [Token] = []
        while true {
            let token = try lexer.next()
            tokens.append(token)
            if token.kind == .end { return tokens }
        }
    }

    private var peek: Unicode.Scalar? { index < scalars.count ? scalars[index] : nil }
    private func peek(_ ahead: Int) -> Unicode.Scalar? {
        index + ahead < scalars.count ? scalars[index + ahead] : nil
    }

    private func error(_ message: String, at position: Int) -> SLIParseError {
        SLIParseError(code: .syntax, column: position + 1, message: message)
    }

    private mutating func next() throws(SLIParseError) -> Token {
        while let scalar = peek {
            if scalar == " " || scalar == "\t" || scalar == "\n" || scalar == "\r" {
                index += 1
            } else if scalar == "#" {
                while let c = peek, c != "\n" { index += 1 }
            } else {
                break
            }
        }
        let start = index
        guard let scalar = peek else { return Token(kind: .end, column: start + 1) }
        func token(_ kind: Token.Kind, length: Int = 1) -> Token {
            index += length
            return Token(kind: kind, column: start + 1)
        }
        switch scalar {
        case "(": return token(.leftParen)
        case ")": return token(.rightParen)
        case "{": return token(.leftBrace)
        case "}": return token(.rightBrace)
        case "[": return token(.leftBracket)
        case "]": return token(.rightBracket)
        case ",": return token(.comma)
        case ":": return token(.colon)
        case "@": return token(.at)
        case "+": return token(.operator(.add))
        case "-": return token(.operator(.subtract))
        case "*": return token(.operator(.multiply))
        case "/": return token(.operator(.divide))
        case "%": return token(.operator(.modulo))
        case "^": return token(.operator(.power))
        case "=":
            if peek(1) == "=" { return token(.operator(.equal), length: 2) }
            if peek(1) == "~" { return token(.regexMatch, length: 2) }
            return token(.assign)
        case "!":
            if peek(1) == "=" { return token(.notEqual, length: 2) }
            if peek(1) == "~" { return token(.regexNoMatch, length: 2) }
            throw error("unexpected character after \"!\"", at: start)
        case ">":
            return peek(1) == "=" ? token(.operator(.greaterOrEqual), length: 2) : token(.operator(.greater))
        case "<":
            return peek(1) == "=" ? token(.operator(.lessOrEqual), length: 2) : token(.operator(.less))
        case "\"", "'", "`":
            return Token(kind: .string(try readString(quote: scalar)), column: start + 1)
        default:
            if isDigitScalar(scalar) || (scalar == "." && peek(1).map(isDigitScalar) == true) {
                return Token(kind: try readNumberOrDuration(), column: start + 1)
            }
            if isIdentifierStart(scalar) {
                while let c = peek, isIdentifierStart(c) || isDigitScalar(c) { index += 1 }
                let name = String(String.UnicodeScalarView(scalars[start..<index]))
                switch name.lowercased() {
                case "inf": return Token(kind: .number(.infinity), column: start + 1)
                case "nan": return Token(kind: .number(.nan), column: start + 1)
                default: return Token(kind: .identifier(name), column: start + 1)
                }
            }
            throw error("unexpected character \"\(scalar)\"", at: start)
        }
    }

    private mutating func readNumberOrDuration() throws(SLIParseError) -> Token.Kind {
        let start = index
        if peek == "0", peek(1) == "x" || peek(1) == "X" {
            index += 2
            while let c = peek, c.properties.isASCIIHexDigit { index += 1 }
            let text = String(String.UnicodeScalarView(scalars[(start + 2)..<index]))
            guard let value = UInt64(text, radix: 16) else { throw error("bad number \"0x\(text)\"", at: start) }
            return .number(Double(value))
        }
        // A duration is one or more `digits unit` groups, units ms s m h d w y.
        if let duration = readDuration() { return .duration(duration) }
        index = start
        while let c = peek, isDigitScalar(c) { index += 1 }
        if peek == "." {
            index += 1
            while let c = peek, isDigitScalar(c) { index += 1 }
        }
        if let e = peek, e == "e" || e == "E" {
            let save = index
            index += 1
            if let sign = peek, sign == "+" || sign == "-" { index += 1 }
            if let c = peek, isDigitScalar(c) {
                while let c = peek, isDigitScalar(c) { index += 1 }
            } else {
                index = save
            }
        }
        if let c = peek, isWordScalar(c) || c == "." {
            while let c = peek, isWordScalar(c) || c == "." { index += 1 }
            throw error("bad number or duration syntax \"\(String(String.UnicodeScalarView(scalars[start..<index])))\"", at: start)
        }
        let text = String(String.UnicodeScalarView(scalars[start..<index]))
        guard let value = Double(text) else { throw error("bad number \"\(text)\"", at: start) }
        return .number(value)
    }

    /// Reads `(\d+(ms|s|m|h|d|w|y))+` with units in decreasing order, or resets and returns nil.
    private mutating func readDuration() -> Int64? {
        let start = index
        let units: [(String, Int64)] = [
            ("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000), ("w", 604_800_000),
            ("y", 31_536_000_000),
        ]
        var total: Int64 = 0
        var lastUnitSize = Int64.max
        var groups = 0
        while let c = peek, isDigitScalar(c) {
            let groupStart = index
            var amount: Int64 = 0
            while let c = peek, isDigitScalar(c) {
                let (product, overflow) = amount.multipliedReportingOverflow(by: 10)
                guard !overflow else { index = start; return nil }
                amount = product + Int64(c.value - 48)
                index += 1
            }
            var matched: (String, Int64)?
            for unit in units {
                let unitScalars = Array(unit.0.unicodeScalars)
                if scalars.count - index >= unitScalars.count,
                    Array(scalars[index..<index + unitScalars.count]) == unitScalars,
                    !(unit.0 == "m" && peek(1) == "s")
                {
                    matched = unit
                    break
                }
            }
            guard let (name, size) = matched, size < lastUnitSize else {
                index = groupStart
                break
            }
            index += name.unicodeScalars.count
            let (scaled, overflow) = amount.multipliedReportingOverflow(by: size)
            guard !overflow else { index = start; return nil }
            total += scaled
            lastUnitSize = size
            groups += 1
        }
        if groups == 0 || (peek.map { isWordScalar($0) || $0 == "." } ?? false) {
            index = start
            return nil
        }
        return total
    }

    private mutating func readString(quote: Unicode.Scalar) throws(SLIParseError) -> String {
        let start = index
        index += 1
        var out = String.UnicodeScalarView()
        while let c = peek {
            index += 1
            if c == quote { return String(out) }
            if quote == "`" {
                out.append(c)
                continue
            }
            if c == "\n" { break }
            guard c == "\\" else {
                out.append(c)
                continue
            }
            guard let e = peek else { break }
            index += 1
            switch e {
            case "a": out.append("\u{07}")
            case "b": out.append("\u{08}")
            case "f": out.append("\u{0C}")
            case "n": out.append("\n")
            case "r": out.append("\r")
            case "t": out.append("\t")
            case "v": out.append("\u{0B}")
            case "\\": out.append("\\")
            case "\"" where quote == "\"", "'" where quote == "'": out.append(e)
            case "x", "u", "U":
                let digits = e == "x" ? 2 : (e == "u" ? 4 : 8)
                guard scalars.count - index >= digits,
                    let code = UInt32(String(String.UnicodeScalarView(scalars[index..<index + digits])), radix: 16),
                    let scalar = Unicode.Scalar(code)
                else { throw error("invalid escape sequence in string", at: index - 2) }
                index += digits
                out.append(scalar)
            default:
                throw error("unknown escape sequence \"\\\(e)\" in string", at: index - 2)
            }
        }
        throw error("unterminated quoted string", at: start)
    }
}

private func isDigitScalar(_ c: Unicode.Scalar) -> Bool { c >= "0" && c <= "9" }
private func isWordScalar(_ c: Unicode.Scalar) -> Bool {
    (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || c == "_" || isDigitScalar(c)
}
private func isIdentifierStart(_ c: Unicode.Scalar) -> Bool {
    (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || c == "_" || c == ":"
}

/// Recursive-descent parser with precedence climbing for binary operators.
struct SLIParser {
    private let tokens: [Token]
    private var position = 0

    private static let unsupportedAggregations: Set<String> = [
        "topk", "bottomk", "quantile", "count_values", "stddev", "stdvar", "group", "limitk", "limit_ratio",
    ]

    init(_ text: String) throws(SLIParseError) {
        tokens = try SLILexer.tokenize(text)
    }

    private var current: Token { tokens[position] }
    private var nextToken: Token { tokens[Swift.min(position + 1, tokens.count - 1)] }

    private mutating func advance() -> Token {
        let token = tokens[position]
        if position < tokens.count - 1 { position += 1 }
        return token
    }

    private func syntax(_ message: String, at token: Token) -> SLIParseError {
        SLIParseError(code: .syntax, column: token.column, message: message)
    }

    private func unexpected(_ token: Token, expected: String) -> SLIParseError {
        syntax("unexpected \(token.described), expected \(expected)", at: token)
    }

    private mutating func expect(_ kind: Token.Kind, _ description: String) throws(SLIParseError) {
        guard current.kind == kind else { throw unexpected(current, expected: description) }
        _ = advance()
    }

    private func identifier(_ token: Token) -> String? {
        if case .identifier(let name) = token.kind { return name }
        return nil
    }

    mutating func parseTop() throws(SLIParseError) -> SLIExpression {
        if current.kind == .end { throw syntax("no expression found in input", at: current) }
        let expression = try parseBinary(minimumPrecedence: 1)
        guard current.kind == .end else {
            if current.kind == .rightParen { throw syntax("unexpected right parenthesis \")\"", at: current) }
            throw unexpected(current, expected: "an operator or the end of input")
        }
        return expression
    }

    private func binaryOperator(_ token: Token) -> BinaryOperator? {
        switch token.kind {
        case .operator(let op): return op
        case .notEqual: return .notEqual
        case .identifier(let name):
            switch name {
            case "and": return .and
            case "or": return .or
            case "unless": return .unless
            default: return nil
            }
        default: return nil
        }
    }

    private mutating func parseBinary(minimumPrecedence: Int) throws(SLIParseError) -> SLIExpression {
        var lhs = try parseUnary()
        while let op = binaryOperator(current), op.precedence >= minimumPrecedence {
            let opToken = advance()
            var modifiers = BinaryModifiers()
            if identifier(current) == "bool" {
                let boolToken = advance()
                guard op.isComparison else {
                    throw SLIParseError(
                        code: .type, column: boolToken.column,
                        message: "bool modifier can only be used on comparison operators")
                }
                modifiers.returnBool = true
            }
            if let name = identifier(current), name == "on" || name == "ignoring" {
                let matchingToken = advance()
                modifiers.on = name == "on"
                modifiers.matchingLabels = try parseLabelList(after: matchingToken)
                if let group = identifier(current), group == "group_left" || group == "group_right" {
                    throw SLIParseError(
                        code: .unsupported, column: current.column,
                        message: "\(group) (many-to-one matching) is not supported")
                }
            } else if let group = identifier(current), group == "group_left" || group == "group_right" {
                throw syntax("\(group) must follow on(…) or ignoring(…)", at: current)
            }
            let nextMinimum = op == .power ? op.precedence : op.precedence + 1
            let rhs = try parseBinary(minimumPrecedence: nextMinimum)
            lhs = try makeBinary(op, lhs, rhs, modifiers, at: opToken)
        }
        return lhs
    }

    private func makeBinary(
        _ op: BinaryOperator, _ lhs: SLIExpression, _ rhs: SLIExpression, _ modifiers: BinaryModifiers,
        at token: Token
    ) throws(SLIParseError) -> SLIExpression {
        func typeError(_ message: String) -> SLIParseError {
            SLIParseError(code: .type, column: token.column, message: message)
        }
        let l = lhs.valueType
        let r = rhs.valueType
        guard l != .rangeVector && r != .rangeVector else {
            throw typeError("binary expression must contain only scalar and instant vector types")
        }
        if op.isSetOperator && (l == .scalar || r == .scalar) {
            throw typeError("set operator \"\(op.rawValue)\" not allowed in binary scalar expression")
        }
        if op.isComparison && !modifiers.returnBool && l == .scalar && r == .scalar {
            throw typeError("comparisons between scalars must use BOOL modifier")
        }
        if modifiers.matchingLabels != nil && (l == .scalar || r == .scalar) {
            throw typeError("vector matching only allowed between instant vectors")
        }
        return .binary(op, lhs, rhs, modifiers)
    }

    private mutating func parseUnary() throws(SLIParseError) -> SLIExpression {
        guard case .operator(let op) = current.kind, op == .add || op == .subtract else {
            return try parsePostfix(try parsePrimary())
        }
        let opToken = advance()
        // As in Prometheus, unary minus binds like `*`: `-a ^ b` is `-(a ^ b)`.
        let operand = try parseBinary(minimumPrecedence: BinaryOperator.power.precedence)
        guard operand.valueType != .rangeVector else {
            throw SLIParseError(
                code: .type, column: opToken.column,
                message: "unary expression only allowed on expressions of type scalar or instant vector")
        }
        if op == .add { return operand }
        if case .number(let value) = operand { return .number(-value) }
        return .negation(operand)
    }

    /// `[range]` and `offset d` after an expression.
    private mutating func parsePostfix(_ expression: SLIExpression) throws(SLIParseError) -> SLIExpression {
        var expression = expression
        while true {
            if current.kind == .leftBracket {
                let bracket = advance()
                guard case .vectorSelector(let selector) = expression else {
                    if case .duration = current.kind, nextToken.kind == .colon {
                        throw SLIParseError(code: .unsupported, column: bracket.column, message: "subqueries are not supported")
                    }
                    throw SLIParseError(
                        code: .type, column: bracket.column,
                        message: "ranges only allowed for vector selectors")
                }
                guard selector.offset == 0 else {
                    throw syntax("offset must follow the range, as in x[5m] offset 1m", at: bracket)
                }
                guard case .duration(let range) = current.kind else {
                    throw unexpected(current, expected: "a duration such as 5s")
                }
                let durationToken = advance()
                if current.kind == .colon {
                    throw SLIParseError(code: .unsupported, column: current.column, message: "subqueries are not supported")
                }
                guard range > 0 else { throw syntax("range must be greater than 0", at: durationToken) }
                try expect(.rightBracket, "\"]\"")
                expression = .matrixSelector(selector, range: range)
            } else if identifier(current) == "offset" {
                let offsetToken = advance()
                var sign: Int64 = 1
                if case .operator(let op) = current.kind, op == .subtract || op == .add {
                    sign = op == .subtract ? -1 : 1
                    _ = advance()
                }
                guard case .duration(let amount) = current.kind else {
                    throw unexpected(current, expected: "a duration after offset")
                }
                _ = advance()
                switch expression {
                case .vectorSelector(var selector) where selector.offset == 0:
                    selector.offset = sign * amount
                    expression = .vectorSelector(selector)
                case .matrixSelector(var selector, let range) where selector.offset == 0:
                    selector.offset = sign * amount
                    expression = .matrixSelector(selector, range: range)
                case .vectorSelector, .matrixSelector:
                    throw syntax("offset may not be set multiple times", at: offsetToken)
                default:
                    throw SLIParseError(
                        code: .type, column: offsetToken.column,
                        message: "offset modifier must be preceded by an instant vector selector or range vector selector")
                }
            } else if current.kind == .at {
                throw SLIParseError(code: .unsupported, column: current.column, message: "the @ modifier is not supported")
            } else {
                return expression
            }
        }
    }

    private mutating func parsePrimary() throws(SLIParseError) -> SLIExpression {
        let token = current
        switch token.kind {
        case .number(let value):
            _ = advance()
            return .number(value)
        case .duration:
            throw syntax("unexpected duration \"\(token.text)\", a number has no unit", at: token)
        case .string:
            throw SLIParseError(code: .unsupported, column: token.column, message: "string literals are not supported")
        case .leftParen:
            _ = advance()
            let inner = try parseBinary(minimumPrecedence: 1)
            guard current.kind == .rightParen else {
                throw current.kind == .end
                    ? syntax("unclosed left parenthesis", at: token)
                    : unexpected(current, expected: "\")\"")
            }
            _ = advance()
            return .parenthesized(inner)
        case .leftBrace:
            return .vectorSelector(try parseSelector(name: nil, nameToken: token))
        case .identifier(let name):
            return try parseIdentifier(name, token)
        case .end:
            throw syntax("unexpected end of input", at: token)
        default:
            throw unexpected(token, expected: "an expression")
        }
    }

    private static let keywords: Set<String> = [
        "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset", "and", "or", "unless",
    ]

    private mutating func parseIdentifier(_ name: String, _ token: Token) throws(SLIParseError) -> SLIExpression {
        let followedByParen = nextToken.kind == .leftParen
        let followedByGrouping = identifier(nextToken) == "by" || identifier(nextToken) == "without"
        if let op = AggregationOperator(rawValue: name), followedByParen || followedByGrouping {
            _ = advance()
            return try parseAggregation(op, token)
        }
        if Self.unsupportedAggregations.contains(name), followedByParen || followedByGrouping {
            throw SLIParseError(code: .unsupported, column: token.column, message: "aggregation \"\(name)\" is not supported")
        }
        if followedByParen {
            guard let function = SLIFunction(rawValue: name) else {
                throw syntax("unknown function with name \"\(name)\"", at: token)
            }
            _ = advance()
            return try parseCall(function, token)
        }
        if Self.keywords.contains(name) {
            throw unexpected(token, expected: "an expression")
        }
        _ = advance()
        return .vectorSelector(try parseSelector(name: name, nameToken: token))
    }

    private mutating func parseAggregation(_ op: AggregationOperator, _ token: Token) throws(SLIParseError) -> SLIExpression {
        var grouping = try parseGrouping()
        let paren = current
        try expect(.leftParen, "\"(\"")
        let argumentToken = current
        let argument = try parseBinary(minimumPrecedence: 1)
        if current.kind == .comma {
            throw syntax("wrong number of arguments for aggregate expression provided, expected 1", at: current)
        }
        guard current.kind == .rightParen else {
            throw current.kind == .end ? syntax("unclosed left parenthesis", at: paren) : unexpected(current, expected: "\")\"")
        }
        _ = advance()
        if let trailing = try parseGrouping() {
            guard grouping == nil else { throw syntax("aggregation has two by/without clauses", at: token) }
            grouping = trailing
        }
        guard argument.valueType == .instantVector else {
            throw SLIParseError(
                code: .type, column: argumentToken.column,
                message: "expected type instant vector in aggregation expression, got \(argument.valueType.rawValue)")
        }
        return .aggregation(op, grouping: grouping, argument)
    }

    private mutating func parseGrouping() throws(SLIParseError) -> Grouping? {
        guard let keyword = identifier(current), keyword == "by" || keyword == "without" else { return nil }
        let token = advance()
        return Grouping(without: keyword == "without", labels: try parseLabelList(after: token))
    }

    /// `( name, name, … )`, trailing comma allowed.
    private mutating func parseLabelList(after keyword: Token) throws(SLIParseError) -> [String] {
        try expect(.leftParen, "\"(\" after \(keyword.text)")
        var names: [String] = []
        while current.kind != .rightParen {
            guard let name = identifier(current), isValidLabelName(name) else {
                throw unexpected(current, expected: "a label name or \")\"")
            }
            _ = advance()
            names.append(name)
            if current.kind == .comma {
                _ = advance()
            } else if current.kind != .rightParen {
                throw unexpected(current, expected: "\",\" or \")\"")
            }
        }
        _ = advance()
        return names
    }

    private mutating func parseCall(_ function: SLIFunction, _ token: Token) throws(SLIParseError) -> SLIExpression {
        let paren = current
        try expect(.leftParen, "\"(\"")
        var arguments: [(SLIExpression, Token)] = []
        while current.kind != .rightParen {
            let argumentToken = current
            if current.kind == .end { throw syntax("unclosed left parenthesis", at: paren) }
            arguments.append((try parseBinary(minimumPrecedence: 1), argumentToken))
            if current.kind == .comma {
                _ = advance()
            } else if current.kind != .rightParen {
                throw current.kind == .end
                    ? syntax("unclosed left parenthesis", at: paren) : unexpected(current, expected: "\",\" or \")\"")
            }
        }
        _ = advance()
        let expected = function.signature.arguments
        guard arguments.count == expected.count else {
            throw SLIParseError(
                code: .type, column: token.column,
                message: "expected \(expected.count) argument(s) in call to \"\(function.rawValue)\", got \(arguments.count)"
            )
        }
        for ((argument, argumentToken), type) in zip(arguments, expected) where argument.valueType != type {
            throw SLIParseError(
                code: .type, column: argumentToken.column,
                message:
                    "expected type \(type.rawValue) in call to function \"\(function.rawValue)\", got \(argument.valueType.rawValue)"
            )
        }
        return .call(function, arguments.map(\.0))
    }

    private mutating func parseSelector(name: String?, nameToken: Token) throws(SLIParseError) -> VectorSelector {
        var matchers: [LabelMatcher] = []
        if let name {
            matchers.append(try! LabelMatcher(name: Labels.metricNameLabel, .equal, name))
        }
        if current.kind == .leftBrace {
            let brace = advance()
            while current.kind != .rightBrace {
                guard let label = identifier(current) else {
                    throw current.kind == .end
                        ? syntax("unexpected end of input inside braces", at: current)
                        : unexpected(current, expected: "a label name or \"}\"")
                }
                let labelToken = advance()
                guard isValidLabelName(label) else { throw syntax("invalid label name \"\(label)\"", at: labelToken) }
                let kind: LabelMatcher.Kind
                switch current.kind {
                case .assign: kind = .equal
                case .notEqual: kind = .notEqual
                case .regexMatch: kind = .regexMatch
                case .regexNoMatch: kind = .regexNoMatch
                default: throw unexpected(current, expected: "a label matching operator (=, !=, =~, !~)")
                }
                _ = advance()
                guard case .string(let value) = current.kind else {
                    throw unexpected(current, expected: "a quoted label value")
                }
                let valueToken = advance()
                do throws(LabelRegex.SyntaxError) {
                    matchers.append(try LabelMatcher(name: label, kind, value))
                } catch {
                    throw SLIParseError(
                        code: .syntax, column: valueToken.column,
                        message: "invalid regular expression \"\(value)\": \(error.message)")
                }
                if label == Labels.metricNameLabel && name != nil {
                    throw syntax("metric name must not be set twice", at: labelToken)
                }
                if current.kind == .comma {
                    _ = advance()
                } else if current.kind != .rightBrace {
                    throw current.kind == .end
                        ? syntax("unexpected end of input inside braces", at: current)
                        : unexpected(current, expected: "\",\" or \"}\"")
                }
            }
            _ = advance()
            if name == nil && !matchers.contains(where: { !$0.matches(value: "") }) {
                throw syntax("vector selector must contain at least one non-empty matcher", at: brace)
            }
        }
        return VectorSelector(matchers: matchers)
    }
}
