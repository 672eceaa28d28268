@testable import Capture
import Ledger
import Testing
import TestSupport

/// The worker reuses the actor of a recent `walaudit.actor` message whose
/// bytes after the xid repeat; whatever the messages, the answer must be the
/// full parse's.
@Suite struct ActorMessageTests {
    /// A message as `walaudit.actor_message()` prints it (json_build_object's layout).
    static func message(xid: String, user: String, role: String, appUser: String?, context: String, pid: Int) -> [UInt8] {
        let app = appUser.map { "\"\($0)\"" } ?? "null"
        return Array(("{\"v\" : 1, \"xid\" : \"\(xid)\", \"session_user\" : \"\(user)\", \"role\" : \"\(role)\", \"app_user\" : \(app), "
            + "\"app_context\" : \(context), \"application_name\" : \"pgbench\", \"client_addr\" : null, \"client_port\" : null, \"pid\" : \(pid)}").utf8)
    }

    @Test func reusedActorsAreWhatAFullParseSays() {
        var generator = SeededRandom()
        var assembler = TransactionAssembler(tables: [:])
        let users = ["app", "batch", "dpo"], roles = ["app", "auditor"], appUsers: [String?] = [nil, "alice", "bob"]
        let contexts = ["{}", "{\"request_id\" : \"r1\"}", "{\"request_id\" : \"r2\"}"]
        var messages: [[UInt8]] = []
        for _ in 0..<2_000 {
            let xid = String(UInt64.random(in: 1...5_000_000_000, using: &generator))  // past UInt32: truncated like the parse
            var message = Self.message(xid: xid, user: users.randomElement(using: &generator)!, role: roles.randomElement(using: &generator)!,
                                       appUser: appUsers.randomElement(using: &generator)!, context: contexts.randomElement(using: &generator)!,
                                       pid: Int.random(in: 100...101, using: &generator))
            switch Int.random(in: 0..<12, using: &generator) {
            case 0: message = Array(String(decoding: message, as: UTF8.self).replacingOccurrences(of: "\"pid\"", with: "\"xid\" : \"1\", \"pid\"").utf8)
            case 1: message.removeLast()                                      // not JSON
            case 2: message = Array(#"{"v" : 1, "xid" : "12345678901234567890123", "session_user" : "x"}"#.utf8)
            case 3: message = Array(#"{"v" : 1, "xid" : "", "session_user" : "x"}"#.utf8)
            case 4: message = Array(#"{"v":1,"xid":"42","session_user":"compact"}"#.utf8)  // another layout: parsed, not reused
            case 5: message = Array(#"{"v" : 2, "xid" : "42", "session_user" : "x"}"#.utf8)
            default: break
            }
            messages.append(message)
            // Repeats, as statements of one transaction send them.
            if Bool.random(using: &generator) { messages.append(message) }
        }
        for message in messages {
            let expected = TransactionAssembler.parseActor(message)
            let answer = assembler.actor(from: message)
            #expect(answer?.0 == expected?.0 && answer?.1 == expected?.1, "\(String(decoding: message, as: UTF8.self))")
        }
        // Up to 108 real-layout rests and as many with a second "xid" (under
        // the 256 kept): most were parsed once and kept for reuse.
        #expect(assembler.actorsByRest.count > 100)
    }

    @Test func anotherActorAfterTheSameXidIsNotReused() {
        var assembler = TransactionAssembler(tables: [:])
        let first = Self.message(xid: "7", user: "app", role: "app", appUser: "alice", context: "{}", pid: 1)
        let second = Self.message(xid: "7", user: "app", role: "app", appUser: "bob", context: "{}", pid: 1)
        #expect(assembler.actor(from: first)?.1.appUser == "alice")
        #expect(assembler.actor(from: second)?.1.appUser == "bob")
        #expect(assembler.actor(from: first)?.1.appUser == "alice")
    }
}
