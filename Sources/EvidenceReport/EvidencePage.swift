import Decoding

/// The evidence report as one self-contained HTML page: inline CSS and
/// SVG, no script, no link to anything outside the file, every value from
/// the store escaped (`HTML`). The verdict comes first, before any chart.
public enum EvidencePage {
    /// The whole page.
    public static func render(_ evidence: Evidence) -> String {
        let page: HTML = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>walaudit evidence report: \(evidence.verdict.intact ? "intact" : "TAMPERED")</title>
            <style>\(style)</style></head>
            <body>
            <header><h1>Audit trail evidence report</h1>
            <p class="scope">\(scope(evidence.selection)) · generated \(evidence.provenance.generatedAt) by walaudit \(evidence.provenance.walauditVersion)</p></header>
            \(verdict(evidence))
            \(contents())
            \(gaps(evidence))
            \(activity(evidence))
            \(policy(evidence))
            \(ddl(evidence))
            \(top(evidence))
            \(rowHistories(evidence))
            \(actorEvents(evidence))
            \(provenance(evidence.provenance))
            </body></html>

            """
        return page.markup
    }

    /// Inline CSS: system fonts only, and print rules.
    static let style: HTML = """
        body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:#1a1a1a;max-width:1100px;margin:0 auto;padding:20px 24px}
        h1{font-size:22px;margin:0}h2{font-size:18px;margin:28px 0 8px;padding-bottom:3px;border-bottom:1px solid #bbb}h3{font-size:15px;margin:18px 0 6px}
        .scope{color:#555;margin:2px 0 0}
        .verdict{border:2px solid;border-radius:6px;padding:10px 16px;margin:14px 0}
        .verdict.intact{border-color:#1b7f3b;background:#eef8f0}.verdict.tampered{border-color:#b00020;background:#fdecee}
        .headline{font-size:20px;font-weight:700;margin:0 0 6px;overflow-wrap:anywhere}.tampered .headline{color:#b00020}.intact .headline{color:#1b5e20}
        dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:3px 14px;margin:6px 0 0}dl.facts dt{font-weight:600}dl.facts dd{margin:0;overflow-wrap:anywhere}
        .warn{color:#8a4b00}
        nav ul{list-style:none;padding:0;margin:6px 0;display:flex;flex-wrap:wrap;gap:4px 16px}
        table{border-collapse:collapse;width:100%;margin:6px 0 10px;font-size:13px}th,td{border-bottom:1px solid #e2e2e2;padding:3px 6px;text-align:left;vertical-align:top}
        th{background:#f3f3f3}table.operations{width:auto;min-width:40%}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}td.time{white-space:nowrap}
        code{font-family:ui-monospace,"DejaVu Sans Mono",Menlo,monospace;font-size:12px;overflow-wrap:anywhere;white-space:pre-wrap}
        .note{color:#555;font-size:13px}.empty{color:#555;font-style:italic}
        .chart{margin:8px 0 16px}.chart svg{width:100%;height:auto;display:block}
        .chart .grid{stroke:#e6e6e6}.chart .axis{stroke:#333}.chart text{font-size:11px;fill:#333}.chart .axis-title{font-size:12px;fill:#555}
        .legend{list-style:none;padding:0;margin:4px 0 0 72px;display:flex;flex-wrap:wrap;gap:2px 16px;font-size:13px}
        .swatch{display:inline-block;width:11px;height:11px;margin-right:5px;vertical-align:-1px;border-radius:2px}
        @page{margin:14mm}
        @media print{body{max-width:none;padding:0}nav{display:none}a{color:inherit;text-decoration:none}tr,.verdict,figure{break-inside:avoid}h2,h3{break-after:avoid}}
        """

    static func scope(_ selection: Selection) -> String {
        var parts: [String] = []
        switch (selection.since, selection.until) {
        case (nil, nil): parts.append("all events")
        case (let since?, nil): parts.append("events committed from \(since)")
        case (nil, let until?): parts.append("events committed before \(until)")
        case (let since?, let until?): parts.append("events committed from \(since) until \(until)")
        }
        if let table = selection.table { parts.append("of table \(table)") }
        return parts.joined(separator: " ")
    }

    // MARK: - Verdict

    static func verdict(_ evidence: Evidence) -> HTML {
        let verdict = evidence.verdict
        let selection = evidence.selection
        var facts: [(String, HTML)] = []
        if let bad = verdict.firstBadSeq {
            facts.append(("Chain", "verification stopped at seq \(count: bad), having checked \(count: verdict.checked) events; from seq \(count: bad) on, the trail cannot be relied on until this is explained"))
        } else {
            facts.append(("Chain", "all \(count: verdict.checked) events of the store (seq 1 to \(count: verdict.checked)): every seq present, every link, payload digest and hash recomputed"))
        }
        if let anchor = verdict.anchor {
            let note: HTML = anchor.noteKeyID.map { id in "; its tree checkpoint is signed with note key ID <code>\(id)</code> of origin <code>\(anchor.noteOrigin ?? "?")</code>" } ?? ""
            facts.append(("Signed checkpoint", """
                checked against \(count: Int64(anchor.count)) signed checkpoint(s) in <code>\(anchor.path)</code>, the newest at seq \(count: anchor.seq), \
                signed \(anchor.time); public key SHA-256 <code>\(anchor.publicKeySHA256)</code> (of the 32-byte Ed25519 key)\(note)
                """))
        } else {
            let stored: HTML = verdict.storedCheckpoint.map { " The store's own newest checkpoint record (not checked) is seq \(count: $0.seq) of \($0.time)." } ?? ""
            facts.append(("Signed checkpoint", """
                <span class="warn">none given: a superuser who rewrote the whole chain, cut its tail or restored an older copy would not show. \
                Make the report with <code>--checkpoints DIR --public-key KEY</code>.</span>\(stored)
                """))
        }
        facts.append(("Gaps", verdict.gapSeqs.isEmpty
            ? "none: the trail records no stretch it could not capture"
            : "<span class=\"warn\">\(count: Int64(verdict.gapSeqs.count)) GAP event(s), at seq \(verdict.gapSeqs.map { HTML.grouped($0) }.joined(separator: ", ")): changes the trail could not capture (see <a href=\"#gaps\">Gaps</a>)</span>"))
        let recorded: HTML = "the apply_retention runs recorded in the chain say they purged \(count: verdict.purgesRecordedByRetention)"
        if verdict.intact {
            facts.append(("Retention", "\(count: verdict.purged) event payload(s) purged over the whole chain (the events and their hashes stay); \(recorded)"))
        } else {
            let marked = evidence.operations.reduce(Int64(0)) { $0 + $1.purged }
            facts.append(("Retention", """
                \(count: marked) event payload(s) of this report's events are marked purged (verification counted \(count: verdict.purged) \
                among the \(count: verdict.checked) events it checked); \(recorded)
                """))
        }
        var range: HTML = "\(count: selection.events) event(s)"
        if let first = selection.firstSeq, let last = selection.lastSeq {
            range = "\(range), seq \(count: first) to \(count: last), committed \(selection.firstTime ?? "?") to \(selection.lastTime ?? "?")"
        }
        facts.append(("This report", "\(range) (\(scope(selection))); the store's last seq was \(count: selection.storeHeadSeq) when it was read"))
        let rows: [HTML] = facts.map { "<dt>\($0.0)</dt><dd>\($0.1)</dd>" }
        return """
            <section id="verdict" class="verdict \(verdict.intact ? "intact" : "tampered")">
            <p class="headline">\(verdict.headline)</p>
            <dl class="facts">\(rows)</dl></section>
            """
    }

    static func contents() -> HTML {
        let entries: [(String, String)] = [("gaps", "Gaps"), ("activity", "Activity"), ("policy", "Policy timeline"), ("ddl", "DDL"),
                                           ("top", "Top rows and actors"), ("provenance", "Provenance")]
        let items: [HTML] = entries.map { "<li><a href=\"#\($0.0)\">\($0.1)</a></li>" }
        return "<nav><ul>\(items)</ul></nav>"
    }

    // MARK: - Sections

    static func gaps(_ evidence: Evidence) -> HTML {
        let body: HTML
        if evidence.gaps.isEmpty {
            body = "<p class=\"empty\">No GAP event in the selection.</p>"
        } else {
            let rows: [HTML] = evidence.gaps.prefix(evidence.listLimit).map { event in
                let fields = jsonObject(event.newRow)
                return """
                    <tr><td class="num">\(count: event.seq)</td><td class="time">\(event.time)</td><td>\(event.table ?? "every table")</td>\
                    <td>\(fields?["reason"]?.text ?? "?")</td><td>\(fields?["detail"]?.text ?? "")</td><td>\(who(event.who))</td></tr>
                    """
            }
            body = "<table><thead><tr><th class=\"num\">seq</th><th>time</th><th>table</th><th>reason</th><th>detail</th><th>by</th></tr></thead><tbody>\(rows)</tbody></table>\(cut(evidence.gaps.count, evidence.listLimit))"
        }
        return "<section id=\"gaps\"><h2>Gaps</h2>\(body)</section>"
    }

    static func activity(_ evidence: Evidence) -> HTML {
        let activity = evidence.activity
        let operations: [HTML] = evidence.operations.map {
            "<tr><td>\($0.operation)</td><td class=\"num\">\(count: $0.events)</td><td class=\"num\">\(count: $0.purged)</td></tr>"
        }
        let actorLinks = Dictionary(evidence.topActors.enumerated().map { ($0.element.actor ?? "(no actor recorded)", "actor-\($0.offset + 1)") },
                                    uniquingKeysWith: { first, _ in first })
        return """
            <section id="activity"><h2>Activity</h2>
            <table class="operations"><thead><tr><th>operation</th><th class="num">events</th><th class="num">payload purged</th></tr></thead><tbody>\(operations)</tbody></table>
            <h3>Events per \(activity.bucket.name), by table</h3>
            \(ActivityChart.render(activity.byTable, bucket: activity.bucket, label: "table"))
            <h3>Events per \(activity.bucket.name), by actor</h3>
            <p class="note">The actor is the application's user (<code>walaudit.set_actor</code>) where one was set, else the database login.</p>
            \(ActivityChart.render(activity.byActor, bucket: activity.bucket, label: "actor", link: { actorLinks[$0] }))
            </section>
            """
    }

    static func policy(_ evidence: Evidence) -> HTML {
        let timeline: HTML
        if evidence.policyEvents.isEmpty {
            timeline = "<p class=\"empty\">No POLICY event in the selection.</p>"
        } else {
            let rows: [HTML] = evidence.policyEvents.prefix(evidence.listLimit).map { event in
                let summary = policySummary(event)
                return """
                    <tr><td class="num">\(count: event.seq)</td><td class="time">\(event.time)</td><td>\(summary.action)</td>\
                    <td>\(event.table ?? "every table")</td><td>\(summary.detail)</td><td>\(summary.reason ?? "")</td><td>\(who(event.who))</td></tr>
                    """
            }
            timeline = "<table><thead><tr><th class=\"num\">seq</th><th>time</th><th>action</th><th>scope</th><th>what</th><th>why</th><th>by</th></tr></thead><tbody>\(rows)</tbody></table>\(cut(evidence.policyEvents.count, evidence.listLimit))"
        }
        let settings: HTML = evidence.retentionPolicies.isEmpty ? "<p class=\"empty\">No retention policy: payloads are kept.</p>" : """
            <table><thead><tr><th>table</th><th>keep</th><th>mode</th><th>set</th><th>by</th></tr></thead><tbody>\
            \(evidence.retentionPolicies.map { "<tr><td>\($0.table)</td><td>\($0.keep)</td><td>\($0.mode)</td><td class=\"time\">\($0.setAt)</td><td>\($0.setBy)</td></tr>" as HTML })</tbody></table>
            """
        let holds: HTML = evidence.legalHolds.isEmpty ? "<p class=\"empty\">No legal hold was ever placed.</p>" : """
            <table><thead><tr><th>hold</th><th>state</th><th>reason</th><th>matches</th><th>placed</th><th>released</th></tr></thead><tbody>\
            \(evidence.legalHolds.map(holdRow))</tbody></table>
            """
        return """
            <section id="policy"><h2>Policy timeline</h2>
            <p class="note">Every retention setting, legal hold and retention run is itself a POLICY event in the chain, with who made it.</p>
            \(timeline)
            <h3>Retention in force</h3>\(settings)
            <h3>Legal holds</h3>\(holds)
            </section>
            """
    }

    static func holdRow(_ hold: LegalHold) -> HTML {
        let released: HTML = hold.releasedAt.map { "\($0) by \(hold.releasedBy ?? "?"): \(hold.releaseReason ?? "")" } ?? ""
        return """
            <tr><td>\(hold.name)</td><td>\(hold.active ? "active" : "released")</td><td>\(hold.reason)</td><td>\(hold.scope)</td>\
            <td class="time">\(hold.placedAt) by \(hold.placedBy)</td><td>\(released)</td></tr>
            """
    }

    static func ddl(_ evidence: Evidence) -> HTML {
        let body: HTML
        if evidence.ddlEvents.isEmpty {
            body = "<p class=\"empty\">No DDL event in the selection.</p>"
        } else {
            let rows: [HTML] = evidence.ddlEvents.prefix(evidence.listLimit).map { event in
                let fields = jsonObject(event.newRow)
                return """
                    <tr><td class="num">\(count: event.seq)</td><td class="time">\(event.time)</td><td>\(event.table ?? "")</td>\
                    <td>\(fields?["command_tag"]?.text ?? "?")</td><td><code>\(fields?["object_identity"]?.text ?? "")</code></td><td>\(who(event.who))</td></tr>
                    """
            }
            body = "<table><thead><tr><th class=\"num\">seq</th><th>time</th><th>table</th><th>command</th><th>object</th><th>by</th></tr></thead><tbody>\(rows)</tbody></table>\(cut(evidence.ddlEvents.count, evidence.listLimit))"
        }
        return """
            <section id="ddl"><h2>DDL on audited tables</h2>
            <p class="note">Schema changes of attached tables, and walaudit's own marks (WALAUDIT ATTACH, BASELINE, CAPTURE, RELEASE).</p>
            \(body)</section>
            """
    }

    static func top(_ evidence: Evidence) -> HTML {
        let rows: HTML = evidence.topRows.isEmpty ? "<p class=\"empty\">No row changes in the selection.</p>" : """
            <table><thead><tr><th class="num">#</th><th>table</th><th>row</th><th class="num">changes</th></tr></thead><tbody>\
            \(evidence.topRows.enumerated().map { "<tr><td class=\"num\">\($0.offset + 1)</td><td>\($0.element.table)</td><td><a href=\"#row-\($0.offset + 1)\"><code>\($0.element.rowKey)</code></a></td><td class=\"num\">\(count: $0.element.changes)</td></tr>" as HTML })</tbody></table>
            """
        let actors: HTML = evidence.topActors.isEmpty ? "<p class=\"empty\">No events in the selection.</p>" : """
            <table><thead><tr><th class="num">#</th><th>actor</th><th class="num">events</th></tr></thead><tbody>\
            \(evidence.topActors.enumerated().map { "<tr><td class=\"num\">\($0.offset + 1)</td><td><a href=\"#actor-\($0.offset + 1)\">\($0.element.actor ?? "(no actor recorded)")</a></td><td class=\"num\">\(count: $0.element.events)</td></tr>" as HTML })</tbody></table>
            """
        return """
            <section id="top"><h2>Top changed rows and top actors</h2>
            <p class="note">Changes are INSERT, UPDATE and DELETE events; a purged event has lost its row key and is not counted.</p>
            <h3>Rows changed most often</h3>\(rows)
            <h3>Actors with the most events</h3>\(actors)
            </section>
            """
    }

    static func rowHistories(_ evidence: Evidence) -> HTML {
        guard !evidence.topRows.isEmpty else { return "" }
        let sections: [HTML] = evidence.topRows.enumerated().map { index, row in
            let shown = Int64(row.events.count)
            let note: HTML = shown < row.changes ? "<p class=\"note\">The newest \(count: shown) events; <code>walaudit.row_history</code> has them all.</p>" : ""
            return "<h3 id=\"row-\(index + 1)\">\(row.table) <code>\(row.rowKey)</code></h3>\(note)\(eventTable(row.events))"
        }
        return "<section id=\"rows\"><h2>Row histories</h2>\(sections)</section>"
    }

    static func actorEvents(_ evidence: Evidence) -> HTML {
        guard !evidence.topActors.isEmpty else { return "" }
        let sections: [HTML] = evidence.topActors.enumerated().map { index, actor in
            let note: HTML = Int64(actor.latest.count) < actor.events ? "<p class=\"note\">The newest \(count: Int64(actor.latest.count)) of \(count: actor.events) events.</p>" : ""
            return "<h3 id=\"actor-\(index + 1)\">\(actor.actor ?? "(no actor recorded)")</h3>\(note)\(eventTable(actor.latest))"
        }
        return "<section id=\"actors\"><h2>Actors' latest events</h2>\(sections)</section>"
    }

    static func provenance(_ provenance: Provenance) -> HTML {
        let facts: [(String, HTML)] = [
            ("Command", "<code>\(provenance.command)</code>"),
            ("Audit store", "<code>\(provenance.database)</code> (PostgreSQL \(provenance.serverVersion)); chain id <code>\(provenance.chainID ?? "none")</code>"),
            ("walaudit", "\(provenance.walauditVersion); chain format version 1 (docs/chain-format.md)"),
            ("Generated", "\(provenance.generatedAt); verifying took \(seconds(provenance.verifySeconds)), reading the report \(seconds(provenance.readSeconds))"),
            ("Check it yourself", "<code>walaudit verify</code> with the same store (and checkpoints) gives the same verdict; <code>walaudit export</code> takes events away with what is needed to verify them offline."),
        ]
        let rows: [HTML] = facts.map { "<dt>\($0.0)</dt><dd>\($0.1)</dd>" }
        return "<section id=\"provenance\"><h2>Provenance</h2><dl class=\"facts\">\(rows)</dl></section>"
    }

    // MARK: - Pieces

    /// A list of events: seq, time, operation, table, who, and what changed.
    static func eventTable(_ events: [TrailEvent]) -> HTML {
        let rows: [HTML] = events.map { event in
            """
            <tr><td class="num">\(count: event.seq)</td><td class="time">\(event.time)</td><td>\(event.operation)</td><td>\(event.table ?? "")</td>\
            <td>\(who(event.who))</td><td>\(change(event))</td></tr>
            """
        }
        return "<table><thead><tr><th class=\"num\">seq</th><th>time</th><th>what</th><th>table</th><th>by</th><th>change</th></tr></thead><tbody>\(rows)</tbody></table>"
    }

    /// What an event changed, as far as its payload still says.
    static func change(_ event: TrailEvent) -> HTML {
        if event.purged { return "<span class=\"note\">payload purged by retention</span>" }
        var parts: [HTML] = []
        if let key = event.rowKey { parts.append("key <code>\(key)</code>") }
        if event.operation == "UPDATE", !event.changedColumns.isEmpty { parts.append("changed \(event.changedColumns.joined(separator: ", "))") }
        switch event.operation {
        case "DELETE": if let old = event.oldRow { parts.append("was <code>\(old)</code>") }
        case "TRUNCATE": parts.append("every row")
        default: if let new = event.newRow { parts.append("<code>\(new)</code>") }
        }
        return HTML(joining: parts, separator: "<br>")
    }

    /// "alice@example.com · login clerk as manager · psql · 10.0.0.7".
    static func who(_ who: Who) -> HTML {
        var parts: [String] = []
        if let appUser = who.appUser { parts.append(appUser) }
        if let login = who.dbUser {
            parts.append("login " + login + (who.roleName.map { $0 == login ? "" : " as " + $0 } ?? ""))
        } else if let role = who.roleName {
            parts.append("role " + role)
        }
        if let application = who.applicationName, !application.isEmpty { parts.append(application) }
        if let address = who.clientAddr { parts.append(address) }
        return parts.isEmpty ? "<span class=\"note\">no actor recorded</span>" : "\(parts.joined(separator: " · "))"
    }

    /// A POLICY event in words: the action, what it set, and the reason given.
    public static func policySummary(_ event: TrailEvent) -> (action: String, detail: String, reason: String?) {
        let new = jsonObject(event.newRow)
        let old = jsonObject(event.oldRow)
        let key = jsonObject(event.rowKey)
        let action = new?["action"]?.text ?? "?"
        switch action {
        case "set_retention":
            let setting = new?["keep"]?.text.map { "keep \($0) (\(new?["mode"]?.text ?? "?"))" } ?? "removed"
            let before = old?["keep"]?.text.map { "; was \($0) (\(old?["mode"]?.text ?? "?"))" } ?? ""
            return (action, setting + before, nil)
        case "place_legal_hold":
            var matches: [String] = []
            if let row = new?["row_key"], row != .null { matches.append("row " + row.serialized) }
            if let since = new?["since"]?.text { matches.append("from " + since) }
            if let until = new?["until"]?.text { matches.append("until " + until) }
            if let actor = new?["actor"]?.text { matches.append("actor " + actor) }
            return (action, "hold \(key?["name"]?.text ?? "?")" + (matches.isEmpty ? "" : ": " + matches.joined(separator: ", ")), new?["reason"]?.text)
        case "release_legal_hold":
            return (action, "hold \(key?["name"]?.text ?? "?")", new?["reason"]?.text)
        case "apply_retention":
            var counts: [String] = []
            if case .object(let tables)? = new?["tables"] {
                for table in tables {
                    if case .array(let pair) = table.value, pair.count == 2 {
                        counts.append("\(table.key): \(pair[0].serialized) purged, \(pair[1].serialized) held")
                    }
                }
            }
            let dryRun = new?["dry_run"] == .bool(true) ? "dry run, nothing purged; " : ""
            let clock = new?["clock"]?.text.map { "; clock " + $0 + (new?["test_clock"] == .bool(true) ? " (test clock)" : "") } ?? ""
            return (action, dryRun + (counts.isEmpty ? "nothing expired" : counts.joined(separator: "; ")) + clock, nil)
        default:
            return (action, event.newRow ?? "", new?["reason"]?.text)
        }
    }

    static func jsonObject(_ text: String?) -> JSONValue? {
        guard let text, let value = try? JSONValue(parsing: text), case .object = value else { return nil }
        return value
    }

    /// A note under a list of `count` entries of which the first `limit` are shown.
    static func cut(_ count: Int, _ limit: Int) -> HTML {
        count > limit ? "<p class=\"note\">Only the first \(limit) are listed; query <code>walaudit.events</code> for the rest.</p>" : ""
    }

    static func seconds(_ value: Double) -> String {
        let tenths = Int((value * 10).rounded())
        return "\(tenths / 10).\(tenths % 10) s"
    }
}

extension JSONValue {
    /// A string's value, or any other scalar's JSON text; nil for null.
    var text: String? {
        switch self {
        case .null: nil
        case .string(let s): s
        default: serialized
        }
    }
}
