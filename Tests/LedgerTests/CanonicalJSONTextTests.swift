import Decoding
import Foundation
@testable import Ledger
import Testing
import TestSupport

/// The verifier encodes stored JSON text directly; it must give exactly the
/// bytes of parsing the text and encoding the tree (what the writer hashed).
@Suite struct CanonicalJSONTextTests {
    static func viaTree(_ text: String) throws -> [UInt8] {
        var e = CanonicalEncoder()
        e.json(try JSONValue(parsing: text))
        return e.bytes
    }

    static func viaText(_ text: String) throws -> [UInt8] {
        var e = CanonicalEncoder()
        try Array(text.utf8).withUnsafeBytes { try e.json(text: $0) }
        return e.bytes
    }

    @Test(arguments: [
        #"{"v": 1, "id": 2, "pad": "x"}"#,                       // jsonb's order (length first), not byte order
        #"{"b": 1, "a": {"d": [1, {"z": null, "y": true}], "c": false}, "b": 2.50}"#,  // nested, duplicate key
        #"{"a": 1, "a": 2, "a": 3}"#,
        #"{"é": 1, "e\u0301": 2, "z": 3, "Z": 4, "": 5}"#,        // canonically equivalent keys stay apart
        #"[1.5e3, -0, -0.000, 0, 1E-2, 12.340e+1, -7, 3.14159265358979323846264338327950288]"#,
        #""tab\tquote\"back\\slash\/ \u00e9 \ud83d\ude00 \u0001""#,
        #"  {  "k" :  [ ]  , "o" : { } }  "#,
        "null", "true", "false", "\"\"", "[]", "{}", "0",
    ])
    func textEncodingMatchesTreeEncoding(_ text: String) throws {
        #expect(try Self.viaText(text) == Self.viaTree(text))
    }

    @Test func randomDocumentsMatch() throws {
        var rng = SeededRandom()
        for _ in 0..<2_000 {
            let text = Self.randomJSON(&rng, depth: 0)
            #expect(try Self.viaText(text) == Self.viaTree(text), "\(text)")
        }
    }

    @Test(arguments: ["{", "[1,]", #"{"a" 1}"#, "01", "1.", "-", "tru", #""\ud800""#, #""\x""#, "1 2", #"{"a":1,}"#])
    func malformedTextIsRejected(_ text: String) {
        #expect(throws: JSONSyntaxError.self) { try Self.viaText(text) }
    }

    static func randomJSON(_ rng: inout SeededRandom, depth: Int) -> String {
        let keys = ["a", "b", "id", "é", "e\u{301}", "aa", "B", "", "ключ", "k\"q"]
        switch Int.random(in: 0..<(depth > 3 ? 5 : 7), using: &rng) {
        case 0: return "null"
        case 1: return Bool.random(using: &rng) ? "true" : "false"
        case 2: return ["0", "-0", "12", "-3.50", "1e5", "2.5E-3", "-0.0e1", "123456789012345678901234567890"].randomElement(using: &rng)!
        case 3, 4: return "\"" + ["", "x", "tab\\t", "\\u00e9", "漢字", "q\\\"", "\\ud83d\\ude00"].randomElement(using: &rng)! + "\""
        case 5: return "[" + (0..<Int.random(in: 0..<4, using: &rng)).map { _ in randomJSON(&rng, depth: depth + 1) }.joined(separator: ",") + "]"
        default:
            return "{" + (0..<Int.random(in: 0..<5, using: &rng)).map { _ in
                let key = keys.randomElement(using: &rng)!.replacingOccurrences(of: "\"", with: "\\\"")
                return "\"\(key)\": " + randomJSON(&rng, depth: depth + 1)
            }.joined(separator: ", ") + "}"
        }
    }
}

/// Numbers already in numeric's output form are taken as they are; every
/// other form is rewritten. Both ways must agree on every JSON number.
@Suite struct NumericTextTests {
    @Test func shortcutAgreesWithTheRewrite() {
        var generator = SeededRandom()
        func digits(_ range: ClosedRange<Int>) -> String {
            String((0..<Int.random(in: range, using: &generator)).map { _ in "0012345679".randomElement(using: &generator)! })
        }
        var shortcut = 0
        for _ in 0..<20_000 {
            var number = Bool.random(using: &generator) ? "-" : ""
            number += Bool.random(using: &generator) ? "0" : String("123456789".randomElement(using: &generator)!) + digits(0...6)
            if Bool.random(using: &generator) { number += "." + digits(1...5) }
            if Int.random(in: 0..<4, using: &generator) == 0 { number += ["e", "E", "e+", "e-"].randomElement(using: &generator)! + digits(1...2) }
            if CanonicalEncoder.isNumericOutputForm(number) { shortcut += 1 }
            #expect(CanonicalEncoder.numericText(number) == CanonicalEncoder.rewrittenNumericText(number), "\(number)")
        }
        #expect(shortcut > 5_000)
        for form in ["0", "-1", "10.50", "0.000"] { #expect(CanonicalEncoder.isNumericOutputForm(form)) }
        for other in ["-0", "-0.00", "007", "1e3", "1.", ".5", "1.5E-2", ""] { #expect(!CanonicalEncoder.isNumericOutputForm(other)) }
    }
}
