/// An inline SVG stacked bar chart of a `Breakdown`: one bar per bucket
/// (empty buckets included, so time runs evenly), one colour per series,
/// a y axis with round ticks and an x axis labelled at even intervals;
/// a legend in HTML beside it. Each bar segment has a tooltip (`<title>`).
public enum ActivityChart {
    /// Colours of the series in order (Okabe–Ito, distinguishable with
    /// colour-blindness), and grey for all others.
    public static let palette = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
    public static let othersColour = "#9E9E9E"

    static let width = 960.0, height = 260.0
    static let left = 72.0, right = 12.0, top = 12.0, bottom = 44.0

    /// The chart and its legend; `label` says what is counted ("table", "actor");
    /// `link` gives a legend entry's anchor, if it has one.
    public static func render(_ breakdown: Breakdown, bucket: TimeBucket, label: String, link: (String) -> String? = { _ in nil }) -> HTML {
        let times = breakdown.cells.map(\.bucketStart)
        guard let first = times.min(), let last = times.max() else {
            return "<p class=\"empty\">No events in the selection.</p>"
        }
        let starts = bucket.starts(from: first, to: last)
        let index = Dictionary(uniqueKeysWithValues: starts.enumerated().map { ($0.element, $0.offset) })
        let order = breakdown.series.map(Optional.some) + [nil]  // stacking order, others on top
        var stacks = Array(repeating: Array(repeating: Int64(0), count: order.count), count: starts.count)
        for cell in breakdown.cells {
            guard let column = index[bucket.start(of: cell.bucketStart)],
                  let layer = order.firstIndex(of: cell.series) else { continue }
            stacks[column][layer] += cell.events
        }
        let highest = stacks.map { $0.reduce(0, +) }.max() ?? 0
        let ticks = yTicks(highest: highest)
        let top = Double(ticks.last ?? 1)
        let plotWidth = width - left - right, plotHeight = height - self.top - bottom
        let slot = plotWidth / Double(starts.count)
        let barWidth = min(max(1, slot * 0.8), 48)
        func y(_ value: Int64) -> Double { self.top + plotHeight - Double(value) / top * plotHeight }

        var parts: [HTML] = []
        for tick in ticks {
            parts.append("<line class=\"grid\" x1=\"\(left)\" x2=\"\(width - right)\" y1=\"\(y(tick))\" y2=\"\(y(tick))\"/>")
            parts.append("<text class=\"tick\" x=\"\(left - 6)\" y=\"\(y(tick) + 4)\" text-anchor=\"end\">\(count: tick)</text>")
        }
        for (column, stack) in stacks.enumerated() {
            let x = left + Double(column) * slot + (slot - barWidth) / 2
            var base: Int64 = 0
            for (layer, events) in stack.enumerated() where events > 0 {
                let name = order[layer] ?? "all others"
                parts.append("""
                    <rect x="\(x)" y="\(y(base + events))" width="\(barWidth)" height="\(y(base) - y(base + events))" \
                    fill="\(colour(layer, of: order.count))"><title>\(bucket.label(starts[column])): \(name), \(count: events) events</title></rect>
                    """)
                base += events
            }
        }
        let every = max(1, Int((Double(starts.count) / 8).rounded(.up)))
        for column in stride(from: 0, to: starts.count, by: every) {
            let x = left + (Double(column) + 0.5) * slot
            parts.append("<line class=\"axis\" x1=\"\(x)\" x2=\"\(x)\" y1=\"\(y(0))\" y2=\"\(y(0) + 4)\"/>")
            parts.append("<text class=\"tick\" x=\"\(x)\" y=\"\(y(0) + 17)\" text-anchor=\"middle\">\(bucket.label(starts[column]))</text>")
        }
        parts.append("<line class=\"axis\" x1=\"\(left)\" x2=\"\(width - right)\" y1=\"\(y(0))\" y2=\"\(y(0))\"/>")
        parts.append("<line class=\"axis\" x1=\"\(left)\" x2=\"\(left)\" y1=\"\(self.top)\" y2=\"\(y(0))\"/>")
        parts.append("<text class=\"axis-title\" x=\"\(left + plotWidth / 2)\" y=\"\(height - 6)\" text-anchor=\"middle\">time (UTC), one bar per \(bucket.name)</text>")
        parts.append("<text class=\"axis-title\" transform=\"translate(14 \(self.top + plotHeight / 2)) rotate(-90)\" text-anchor=\"middle\">events</text>")

        var legend: [HTML] = []
        for (layer, series) in order.enumerated() {
            let events = stacks.reduce(Int64(0)) { $0 + $1[layer] }
            guard series != nil || events > 0 else { continue }
            let name: HTML = series.map { name in link(name).map { "<a href=\"#\($0)\">\(name)</a>" } ?? "\(name)" }
                ?? "all others (\(breakdown.distinct - breakdown.series.count) more)"
            legend.append("<li><span class=\"swatch\" style=\"background:\(colour(layer, of: order.count))\"></span>\(name): \(count: events)</li>")
        }
        return """
            <figure class="chart"><svg viewBox="0 0 \(Int(width)) \(Int(height))" role="img" \
            aria-label="events per \(bucket.name) by \(label)">\(parts)</svg>
            <figcaption><ul class="legend">\(legend)</ul></figcaption></figure>
            """
    }

    /// Round ticks from 0 covering `highest`: steps of 1, 2 or 5 × 10^k, at most 6 of them.
    public static func yTicks(highest: Int64) -> [Int64] {
        guard highest > 0 else { return [0, 1] }
        var step: Int64 = 1
        while true {
            for factor: Int64 in [1, 2, 5] where (highest + step * factor - 1) / (step * factor) <= 5 {
                let size = step * factor
                return (0...((highest + size - 1) / size)).map { $0 * size }
            }
            step *= 10
        }
    }

    private static func colour(_ layer: Int, of layers: Int) -> String {
        layer == layers - 1 ? othersColour : palette[layer % palette.count]
    }
}
