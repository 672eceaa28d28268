import Decoding
import EmbeddedPostgres
import Foundation
import Ledger
import PostgresClient
import Testing
import TestSupport

/// `walaudit report --html` on a real store with a gap, a purge, a legal
/// hold, hostile names and then tampering, opened in headless Chromium
/// (Debian's `chromium`, installed by `scripts/bootstrap --tests`).
@Suite struct AuditorReportTests {
    /// Headless Chromium as root: `--no-sandbox` (it refuses root
    /// otherwise); no profile of its own, none of its background services,
    /// and every host name resolving to nothing, so that nothing can leave
    /// the machine whatever it tries.
    static let chromiumFlags = [
        "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--disable-default-apps", "--disable-extensions", "--no-pings", "--disable-domain-reliability", "--bwsi",
        "--disable-client-side-phishing-detection",
        "--disable-features=SpellCheck,Translate,OptimizationHints,MediaRouter,NetworkTimeServiceQuerying,AutofillServerCommunication",
        "--host-resolver-rules=MAP * ~NOTFOUND", "--enable-logging=stderr", "--v=1",
    ]

    /// Chromium's own services, which it calls on start whatever the page
    /// (component updates, accounts); the page names none of them.
    static let chromiumServices = [".google.com", ".googleapis.com", ".gvt1.com"]

    /// Runs Chromium on `file` with `arguments`; returns stdout and the log.
    static func chromium(_ arguments: [String], file: String) throws -> (status: Int32, stdout: String, log: String) {
        let profile = NSTemporaryDirectory() + "/walaudit-chromium-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: profile) }
        let result = try ChildProcess.run(["/usr/bin/env", "chromium"] + chromiumFlags + ["--user-data-dir=" + profile] + arguments
                                          + ["file://" + file])
        let log = String(decoding: result.stderr, as: UTF8.self)
        if result.status == 127 {
            throw HarnessError("chromium is not installed: scripts/bootstrap --tests installs it")
        }
        return (result.status, String(decoding: result.stdout, as: UTF8.self), log)
    }

    @Test func tamperedStoreGetsAReportThatSaysSoFirstAndRendersOffline() throws {
        let harness = try WalauditHarness.make()
        let db = harness.database
        let su = db.connection
        let directory = NSTemporaryDirectory() + "/walaudit-report-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (key, checkpoints) = (directory + "/key", directory + "/checkpoints")
        #expect(try WalauditBinary.run(["keygen", "--out", key]).status == 0)
        let hostileTable = "<script>alert(1)</script>"
        let hostileActor = "\"; DROP TABLE x; --"
        try su.execute("""
            CREATE TABLE orders (id integer PRIMARY KEY, amount numeric, note text);
            CREATE TABLE "\(hostileTable)" (id integer PRIMARY KEY, v text);
            CREATE TABLE scratch (id integer PRIMARY KEY);
            """)
        try harness.expectSuccess(["attach", "orders", "scratch"])
        try su.execute("SELECT walaudit.attach($1::regclass)", ["public.\"\(hostileTable)\""])
        let worker = try harness.startWorker(["--checkpoint-dir", checkpoints, "--signing-key", key, "--checkpoint-interval", "0.2"])

        try su.execute("BEGIN")
        try su.execute("SELECT walaudit.set_actor($1)", [hostileActor])
        try su.execute("INSERT INTO orders SELECT i, i * 10, '<b>new</b>' FROM generate_series(1, 5) i")
        try su.execute("COMMIT")
        try su.execute("UPDATE orders SET amount = amount + 1 WHERE id = 2")
        try su.execute("UPDATE orders SET amount = amount + 1 WHERE id = 2")
        try su.execute("INSERT INTO \"\(hostileTable)\" VALUES (1, '<img src=x onerror=alert(1)>')")
        try su.execute("INSERT INTO scratch VALUES (1)")
        try su.execute("ALTER TABLE orders ADD COLUMN shipped_at timestamptz")
        try harness.expectSuccess(["detach", "scratch"])  // a GAP: scratch's later changes are not captured
        try harness.waitForConfirmationOfCurrentWAL()

        // Retention a year on (the test clock of a superuser session), with one row held.
        try su.execute("SET walaudit.actor = 'dpo@example.com'")
        try su.execute("SELECT walaudit.set_retention('orders', '30 days')")
        try su.execute(#"SELECT walaudit.place_legal_hold('case-<1>', 'subpoena <script>', 'orders', '{"id": 2}')"#)
        try su.execute("SELECT set_config('walaudit.test_now', (now() + interval '1 year')::text, false)")
        #expect(try su.execute("SELECT table_name, purged, held FROM walaudit.apply_retention()").rows == [["public.orders", "4", "3"]])
        try su.execute("RESET walaudit.test_now; RESET walaudit.actor")
        let deadline = Date().addingTimeInterval(30)
        while try su.execute("""
            SELECT coalesce(max(c.seq), 0) < (SELECT max(seq) FROM walaudit.event_log) FROM walaudit.checkpoints c
            """).scalar == "t" {
            guard Date() < deadline else { throw HarnessError("no checkpoint covers the head") }
            Thread.sleep(forTimeInterval: 0.05)
        }
        #expect(worker.stop() == 0)

        let report = directory + "/evidence.html"
        let reportArguments = ["report", "--html", report, "--checkpoints", checkpoints, "--public-key", key + ".pub",
                               "--source", db.conninfo, "--target", db.conninfo + " password=s3cret-pw", "--slot", harness.slot]
        var result = try WalauditBinary.run(reportArguments)
        var stdout = String(decoding: result.stdout, as: UTF8.self)
        #expect(result.status == 0 && stdout.contains("INTACT"), "\(stdout)\(result.stderr)")

        // A superuser rewrites the held row's last UPDATE.
        let tampered = try #require(try su.execute("""
            SELECT max(seq) FROM walaudit.event_log WHERE table_name = 'orders' AND operation = 'UPDATE'
            """).scalar)
        try harness.tamperAsSuperuser("UPDATE walaudit.event_log SET new_row = jsonb_set(new_row, '{amount}', '7') WHERE seq = \(tampered)")
        result = try WalauditBinary.run(reportArguments)
        stdout = String(decoding: result.stdout, as: UTF8.self)
        #expect(result.status == 1, "not intact: exit 1 \(stdout)\(result.stderr)")
        #expect(stdout.contains("TAMPERED at seq \(tampered): payload altered"), "\(stdout)")

        let html = try String(contentsOfFile: report, encoding: .utf8)
        let verdict = try #require(html.range(of: "TAMPERED at seq \(tampered): payload altered"))
        #expect(verdict.upperBound < (html.range(of: "<svg")?.lowerBound ?? html.startIndex), "the verdict comes before any chart")
        #expect(!html.contains("<script") && !html.contains("<img") && !html.contains("<b>"))
        #expect(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;") && html.contains("&quot;; DROP TABLE x; --"))
        #expect(!html.contains("s3cret-pw") && html.contains("password=***"), "no password in the provenance")
        let publicKey = try KeyFile.read(key + ".pub", label: "public")
        #expect(html.contains(Hex.encode(Crypto.sha256(publicKey))), "the key's fingerprint")
        #expect(html.contains("detached"), "the gap and its reason")
        #expect(html.contains("public.orders: 4 purged, 3 held") && html.contains("(test clock)"), "the retention run")
        #expect(html.contains("hold case-&lt;1&gt;") && html.contains("subpoena &lt;script&gt;") && html.contains("dpo@example.com"))
        #expect(html.contains("ALTER TABLE"), "the DDL")
        #expect(html.contains("4 event payload(s) of this report's events are marked purged") && html.contains("say they purged 4"))
        #expect(html.contains("<a href=\"#row-1\"><code>{&quot;id&quot;: 2}</code></a>") && html.contains("id=\"row-1\""), "the top row links to its history")
        #expect(html.contains("walaudit report --html"), "the command")
        // Nothing outside the file: no element or attribute that fetches, no CSS that does. Text
        // holds no "<" (escaped), so every "<" starts a tag.
        let tags = html.split(separator: "<").dropFirst().map { $0.prefix { $0 != ">" }.lowercased() }
        let names = Set(tags.map { String($0.prefix { $0.isLetter || $0.isNumber || $0 == "!" }) }).subtracting([""])
        #expect(names.isSubset(of: ["!doctype", "html", "head", "meta", "title", "style", "body", "header", "h1", "h2", "h3", "p", "section", "dl",
                                    "dt", "dd", "code", "span", "a", "nav", "ul", "li", "table", "thead", "tbody", "tr", "th", "td", "figure",
                                    "figcaption", "svg", "line", "text", "rect", "br"]), "\(names)")
        #expect(!tags.contains { $0.contains("src=") || $0.contains("url(") || $0.contains("http-equiv") })
        #expect(!html.contains("@import") && !html.contains("url("))
        #expect(tags.flatMap { $0.components(separatedBy: "href=\"").dropFirst() }.allSatisfy { $0.hasPrefix("#") }, "links stay in the page")
        #expect(html.contains("1 GAP event(s), at seq"), "the gap after the tampered seq is counted too")

        // In Chromium: no console message, no request of the page's, the verdict on the first screen.
        let dom = try Self.chromium(["--dump-dom"], file: report)
        #expect(dom.status == 0, "\(dom.log.suffix(2000))")
        let text = dom.stdout.lowercased()
        let shown = try #require(text.range(of: "tampered at seq \(tampered)"), "\(dom.stdout.prefix(2000))")
        #expect(shown.upperBound < (text.range(of: "<svg")?.lowerBound ?? text.startIndex))
        #expect(!text.contains("<script"))
        let logLines = dom.log.split(separator: "\n")
        #expect(!logLines.contains { $0.contains(":CONSOLE") }, "\(logLines.filter { $0.contains(":CONSOLE") })")
        let requests = logLines.compactMap { line in line.range(of: "NotifyBeforeURLRequest: ").map { String(line[$0.upperBound...]) } }
        let pages = requests.filter { url in
            let host = URL(string: url)?.host ?? url
            return !Self.chromiumServices.contains { host.hasSuffix($0) }
        }
        #expect(pages.isEmpty, "the page made requests: \(pages)")
        let screenshot = directory + "/evidence.png"
        let shot = try Self.chromium(["--screenshot=" + screenshot, "--window-size=1280,900", "--hide-scrollbars"], file: report)
        let png = try #require(FileManager.default.contents(atPath: screenshot), "\(shot.log.suffix(2000))")
        #expect(png.count > 20_000 && png.prefix(8) == Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]), "a PNG of \(png.count) bytes")
    }
}
