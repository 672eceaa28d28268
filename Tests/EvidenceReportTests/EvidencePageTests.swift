import EvidenceReport
import Foundation
import Testing

/// The evidence report's rendering, without a database: hostile names and
/// values stay text, nothing outside the file is referenced, the verdict
/// comes first, and the chart buckets fit the span.
@Suite struct EvidencePageTests {
    static let hostile = ["\"; DROP TABLE x; --", "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "a'b\"c&d</td></tr>",
                          "https://evil.example/x.js"]

    static func event(_ seq: Int64, _ operation: String, table: String?, newRow: String?, rowKey: String? = nil,
                      actor: String = hostile[1]) -> TrailEvent {
        TrailEvent(seq: seq, time: "2026-11-28T10:00:00Z", operation: operation, table: table, rowKey: rowKey, oldRow: #"{"v": "</code>"}"#,
                   newRow: newRow, changedColumns: [hostile[0]], purged: false,
                   who: Who(dbUser: hostile[0], roleName: hostile[2], appUser: actor, applicationName: hostile[3], clientAddr: "10.0.0.7"))
    }

    /// A report in which every name and value a user could choose is hostile.
    static func hostileEvidence(tampered: Bool = true) -> Evidence {
        let table = "public." + hostile[0]
        let hour: Int64 = 1_795_860_000  // 2026-11-28 10:00 UTC
        let breakdown = Breakdown(series: hostile, cells: hostile.enumerated().map {
            Breakdown.Cell(bucketStart: hour + Int64($0.offset) * 3600, series: $0.element, events: Int64($0.offset + 1))
        } + [Breakdown.Cell(bucketStart: hour, series: nil, events: 3)], totals: hostile.map { .init(name: $0, events: 1) }, distinct: 9)
        let policy = [
            event(3, "POLICY", table: table, newRow: #"{"action": "set_retention", "keep": "30 days", "mode": "<b>governance</b>"}"#,
                  rowKey: #"{"policy": "retention"}"#),
            event(4, "POLICY", table: table, newRow: #"{"action": "place_legal_hold", "reason": "<script>x</script>", "row_key": {"id": "<i>"}}"#,
                  rowKey: #"{"policy": "legal_hold", "name": "\"><script>"}"#),
        ]
        return Evidence(
            verdict: Verdict(checked: 7, purged: 2, firstBadSeq: tampered ? 8 : nil,
                             problem: tampered ? "payload altered: seq 8 <script>alert(1)</script>" : nil, gapSeqs: [5],
                             anchor: CheckpointAnchor(path: "/tmp/<script>/checkpoints.jsonl", count: 3, seq: 7, time: "2026-11-28T10:00:00Z",
                                                      publicKeySHA256: "ab12", noteOrigin: hostile[1], noteKeyID: "0badc0de"),
                             storedCheckpoint: nil, purgesRecordedByRetention: 2),
            selection: Selection(since: hostile[1], until: nil, table: table, events: 20, firstSeq: 1, lastSeq: 20,
                                 firstTime: "2026-11-28T10:00:00Z", lastTime: "2026-11-28T14:00:00Z", storeHeadSeq: 20),
            operations: [OperationCount(operation: "UPDATE", events: 20, purged: 2)],
            activity: Activity(bucket: .hours(1), byTable: breakdown, byActor: breakdown),
            gaps: [event(5, "GAP", table: table, newRow: #"{"reason": "<script>", "detail": "</table>"}"#)],
            policyEvents: policy,
            retentionPolicies: [RetentionSetting(table: table, keep: "30 days", mode: hostile[1], setAt: "2026-11-28", setBy: hostile[2])],
            legalHolds: [LegalHold(name: hostile[1], active: false, reason: hostile[2], scope: hostile[0], placedAt: "2026-11-28",
                                   placedBy: hostile[3], releasedAt: "2026-11-29", releasedBy: hostile[1], releaseReason: hostile[4])],
            ddlEvents: [event(6, "DDL", table: table, newRow: #"{"command_tag": "ALTER TABLE", "object_identity": "<svg onload=alert(1)>"}"#)],
            listLimit: 500,
            topRows: [RowActivity(table: table, rowKey: #"{"id": "<script>"}"#, changes: 2,
                                  events: [event(9, "UPDATE", table: table, newRow: #"{"id": "<script>", "v": "\"; DROP TABLE x; --"}"#)])],
            topActors: [ActorActivity(actor: hostile[1], events: 4, latest: [event(9, "DELETE", table: table, newRow: nil)])],
            provenance: Provenance(command: "walaudit report --html r.html --table '<script>'", database: "host=/tmp dbname=<script> password=***",
                                   serverVersion: "15.18", chainID: hostile[2], walauditVersion: "0.1.0", generatedAt: "2026-11-28T15:00:00Z",
                                   verifySeconds: 0.25, readSeconds: 0.5))
    }

    /// Every tag in the page, `<` to `>`: text has no `<` left, so each one starts a tag.
    static func tags(_ page: String) -> [Substring] {
        page.split(separator: "<", omittingEmptySubsequences: true).dropFirst(page.hasPrefix("<") ? 0 : 1).map { $0.prefix { $0 != ">" } }
    }

    /// Every tag name in the page, `!doctype` included.
    static func tagNames(_ page: String) -> Set<String> {
        Set(tags(page).map { $0.prefix { $0.isLetter || $0.isNumber || $0 == "/" || $0 == "!" }.lowercased().replacingOccurrences(of: "/", with: "") })
    }

    @Test func hostileNamesAndValuesAreEscapedEverywhere() {
        let page = EvidencePage.render(Self.hostileEvidence())
        let allowed: Set<String> = ["!doctype", "html", "head", "meta", "title", "style", "body", "header", "h1", "h2", "h3", "p", "section",
                                    "dl", "dt", "dd", "code", "span", "a", "nav", "ul", "li", "table", "thead", "tbody", "tr", "th", "td",
                                    "figure", "figcaption", "svg", "line", "text", "rect", "br"]
        #expect(Self.tagNames(page).subtracting(allowed).isEmpty, "\(Self.tagNames(page).subtracting(allowed))")
        #expect(!page.contains("<script") && !page.contains("<img") && !page.contains("<svg onload") && !page.contains("<b>"))
        #expect(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
        #expect(page.contains("&quot;; DROP TABLE x; --"))
        #expect(page.contains("a&#39;b&quot;c&amp;d&lt;/td&gt;&lt;/tr&gt;"))
        #expect(page.contains("&lt;svg onload=alert(1)&gt;"))
        #expect(page.contains("hold &quot;&gt;&lt;script&gt;"), "the hold's name in the policy timeline")
    }

    @Test func nothingOutsideTheFileIsReferenced() {
        let page = EvidencePage.render(Self.hostileEvidence())
        let tags = Self.tags(page).map { $0.lowercased() }
        for forbidden in ["src=", "url(", "xmlns", "srcset", "action=", "formaction", "data=", "on"] {
            #expect(!tags.contains { tag in tag.split(separator: " ").dropFirst().contains { $0.hasPrefix(forbidden) } }, "\(forbidden)")
        }
        let style = page.split(separator: "<style>")[1].prefix { $0 != "<" }
        #expect(!style.contains("url(") && !style.contains("@import") && !style.contains("@font-face"))
        // Links stay inside the page.
        let hrefs = tags.flatMap { $0.components(separatedBy: "href=\"").dropFirst().map { $0.prefix { $0 != "\"" } } }
        #expect(!hrefs.isEmpty && hrefs.allSatisfy { $0.hasPrefix("#") }, "\(hrefs)")
    }

    @Test func theVerdictComesFirst() throws {
        let page = EvidencePage.render(Self.hostileEvidence())
        let verdict = try #require(page.range(of: "TAMPERED at seq 8: payload altered: seq 8 &lt;script&gt;"))
        let chart = try #require(page.range(of: "<svg"))
        #expect(verdict.upperBound < chart.lowerBound)
        #expect(page.contains("class=\"verdict tampered\""))
        let intact = EvidencePage.render(Self.hostileEvidence(tampered: false))
        #expect(intact.contains("INTACT: 7 events checked, every hash and link holds, up to the signed checkpoint at seq 7"))
        #expect(intact.contains("class=\"verdict intact\""))
    }

    @Test func theBucketFitsTheSpan() {
        let start: Int64 = 1_795_860_000  // 2026-11-28 10:00 UTC
        let cases: [(Int64, TimeBucket)] = [(0, .minutes(1)), (1800, .minutes(1)), (3600, .minutes(5)), (3 * 3600, .minutes(5)), (12 * 3600, .minutes(15)),
                                            (86_400, .hours(1)), (7 * 86_400, .hours(6)), (30 * 86_400, .days(1)),
                                            (365 * 86_400, .weeks), (10 * 365 * 86_400, .months)]
        for (span, bucket) in cases {
            #expect(TimeBucket.choose(first: start, last: start + span) == bucket, "span \(span) s")
        }
        // Aligned in UTC: hours on the hour, weeks on Mondays, months on the 1st, before 1970 too.
        #expect(TimeBucket.hours(1).label(TimeBucket.hours(1).start(of: start + 1799)) == "2026-11-28 10:00")
        #expect(TimeBucket.hours(1).label(TimeBucket.hours(1).start(of: -1800)) == "1969-12-31 23:00")
        #expect(TimeBucket.weeks.label(TimeBucket.weeks.start(of: start)) == "2026-11-23")  // a Monday
        #expect(TimeBucket.months.label(TimeBucket.months.start(of: start)) == "2026-11")
        #expect(TimeBucket.months.starts(from: start, to: start + 62 * 86_400).map(TimeBucket.months.label) == ["2026-11", "2026-12", "2027-01"])
        #expect(TimeBucket.minutes(15).starts(from: start, to: start + 3600).count == 5)
    }

    @Test func chartsDrawEveryBucketWithRoundTicks() {
        #expect(ActivityChart.yTicks(highest: 0) == [0, 1])
        #expect(ActivityChart.yTicks(highest: 7) == [0, 2, 4, 6, 8])
        #expect(ActivityChart.yTicks(highest: 1234) == [0, 500, 1000, 1500])
        let hour: Int64 = 1_795_860_000
        let breakdown = Breakdown(series: ["public.a"], cells: [.init(bucketStart: hour, series: "public.a", events: 5),
                                                                .init(bucketStart: hour + 5 * 3600, series: nil, events: 2)],
                                  totals: [.init(name: "public.a", events: 5)], distinct: 2)
        let svg = ActivityChart.render(breakdown, bucket: .hours(1), label: "table").markup
        #expect(svg.components(separatedBy: "<rect").count - 1 == 2)
        #expect(svg.contains("2026-11-28 15:00: all others, 2 events"))
        #expect(svg.contains("one bar per hour"))
        #expect(svg.contains("all others (1 more): 2"))
    }

    @Test func policyEventsReadAsSentences() {
        let run = Self.event(10, "POLICY", table: nil, newRow: #"""
            {"action": "apply_retention", "dry_run": false, "clock": "2027-11-29T00:00:00+00:00", "test_clock": true,
             "tables": {"public.orders": [5, 2]}}
            """#)
        let summary = EvidencePage.policySummary(run)
        #expect(summary.action == "apply_retention")
        #expect(summary.detail == "public.orders: 5 purged, 2 held; clock 2027-11-29T00:00:00+00:00 (test clock)")
        let release = Self.event(11, "POLICY", table: nil, newRow: #"{"action": "release_legal_hold", "reason": "settled"}"#,
                                 rowKey: #"{"policy": "legal_hold", "name": "case-1"}"#)
        #expect(EvidencePage.policySummary(release) == ("release_legal_hold", "hold case-1", "settled"))
    }
}
