import ArgumentParser
import Decoding
import Foundation
import Ledger
import PostgresClient

/// `walaudit verify`: recheck the whole chain in the audit store.
struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Recheck every event of the audit trail against the hash chain.",
        discussion: """
            Recomputes each payload digest and event hash (docs/chain-format.md) in seq order \
            and checks that no seq is missing and every link holds. Exit status: 0 intact, \
            1 tampered (the first bad seq and what is wrong are printed), 2 error.
            """
    )

    @OptionGroup var connection: ConnectionOptions

    @Flag(help: "Print the result as one JSON object.")
    var json = false

    func run() throws {
        let report: VerificationReport
        do {
            report = try Self.verify(try connection.connectTarget(), progress: isatty(STDERR_FILENO) == 1)
        } catch {
            FileHandle.standardError.write(Data("walaudit verify: \(error)\n".utf8))
            throw ExitCode(2)
        }
        if json {
            print(JSONValue.object([
                .init("ok", .bool(report.ok)), .init("checked", .number(String(report.checked))),
                .init("purged", .number(String(report.purged))),
                .init("first_bad_seq", report.firstBadSeq.map { .number(String($0)) } ?? .null),
                .init("problem", report.problem.map(JSONValue.string) ?? .null),
            ]).serialized)
        } else if report.ok {
            print("intact: \(report.checked) events checked (\(report.purged) with purged payloads)")
        } else {
            print("TAMPERED at seq \(report.firstBadSeq!): \(report.problem!) (\(report.checked) events before it are intact)")
        }
        if !report.ok { throw ExitCode(1) }
    }

    /// Streams the store's events through a `ChainVerifier`.
    static func verify(_ store: Connection, progress: Bool = false) throws -> VerificationReport {
        var verifier = ChainVerifier()
        var seen = 0
        try EventReader(connection: store).forEach { event in
            seen += 1
            if progress && seen % 50_000 == 0 { FileHandle.standardError.write(Data("\rchecked \(seen) events…".utf8)) }
            return verifier.check(event)
        }
        if progress && seen >= 50_000 { FileHandle.standardError.write(Data("\r".utf8)) }
        return verifier.report
    }
}
