import Foundation
import Logging
import PostgresClient

/// Finds, every `interval` seconds, changes that escape capture although
/// walaudit's DDL event trigger would have refused them: a superuser with
/// the event triggers off turned a captured table UNLOGGED, or added a
/// partition or child to an attached table (`walaudit.check_coverage`).
/// The source marks the attached table; that mark reaches the store through
/// the stream as a GAP event. Each problem is logged once while it lasts.
///
/// It runs on the slot guard's connection, between the session's steps.
struct CoverageCheck {
    let connection: Connection
    let interval: Double
    let logger: Logger
    private var due: Double
    private var reported: Set<[String?]> = []

    init(connection: Connection, interval: Double, logger: Logger) {
        self.connection = connection
        self.interval = interval
        self.logger = logger
        due = monotonicSeconds()  // at once: the worker may have been down when it happened
    }

    /// Runs the check if it is due. Only a lost connection is thrown (it
    /// held the worker's lock: the session starts again, as after any lost
    /// connection); any other failure is logged and the check tried again
    /// at the next interval, while capture goes on.
    mutating func runIfDue(now: Double) throws(PostgresError) {
        guard now >= due else { return }
        due = now + interval
        let findings: [[String?]]
        do {
            findings = try connection.execute("SELECT attached_table, relation, problem FROM walaudit.check_coverage()").rows
        } catch where error.connectionLost {
            throw error
        } catch {
            var metadata: Logger.Metadata = ["error": "\(error)", "retry_in_seconds": "\(interval)"]
            if ["42883", "42501"].contains(error.sqlState) {  // no such function, or no right to call it
                metadata["fix"] = "run walaudit setup (it defines walaudit.check_coverage for walaudit_writer) and make the worker's login on the source a member of walaudit_writer"
            }
            logger.error("cannot check whether attached tables' changes escape capture; capture goes on, the check is retried",
                         metadata: metadata)
            return
        }
        for finding in findings where !reported.contains(finding) {
            logger.warning("changes escape capture: a GAP is recorded for the attached table; SET LOGGED if need be and attach it again (walaudit attach), which takes a new baseline",
                           metadata: ["table": "\(finding[0] ?? "?")", "relation": "\(finding[1] ?? "?")",
                                      "problem": "\(finding[2] ?? "?")"])
        }
        reported = Set(findings)  // a problem that goes away and comes back is logged again
    }
}
