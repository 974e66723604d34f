import GossipCore

/// CSV and SVG renderings of simulation samples, as plain strings (the caller writes them).
public enum Chart {
    public static func csv(_ samples: [Sample]) -> String {
        var out = "time_s,live_nodes,converged_nodes,view_fraction,detection_fraction,suspicions,false_positives,bytes_sent\n"
        for s in samples {
            let det = s.detectionFraction.map { fixed($0, 4) } ?? ""
            out += "\(fixed(Double(s.time) / 1e9, 3)),\(s.liveNodes),\(s.convergedNodes),\(fixed(s.viewFraction, 4)),\(det),\(s.suspicions),\(s.falsePositives),\(s.bytesSent)\n"
        }
        return out
    }

    public struct Series: Sendable {
        public var label: String
        public var color: String
        public var points: [(x: Double, y: Double)]
        public init(label: String, color: String, points: [(x: Double, y: Double)]) {
            self.label = label
            self.color = color
            self.points = points
        }
    }

    /// The standard chart of a run: share of nodes converged, share of the view that is right,
    /// and, after a crash, share of observers that have detected it.
    public static func svg(_ samples: [Sample], title: String) -> String {
        let t = samples.map { Double($0.time) / 1e9 }
        var series = [
            Series(
                label: "nodes that see every live node", color: "#1f77b4",
                points: zip(t, samples).map { ($0, $1.liveNodes == 0 ? 0 : Double($1.convergedNodes) / Double($1.liveNodes)) }),
            Series(label: "view completeness", color: "#2ca02c", points: zip(t, samples).map { ($0, $1.viewFraction) }),
        ]
        let det = zip(t, samples).compactMap { x, s in s.detectionFraction.map { (x: x, y: $0) } }
        if !det.isEmpty { series.append(Series(label: "observers that detected the crash", color: "#d62728", points: det)) }
        return svg(series: series, title: title, xLabel: "virtual time (s)", yLabel: "fraction", yMax: 1)
    }

    /// A line chart with axes, ticks and a legend, sized for reading in a browser.
    public static func svg(series: [Series], title: String, xLabel: String, yLabel: String, yMax: Double? = nil, logX: Bool = false)
        -> String
    {
        let w = 720.0
        let legendHeight = 18.0 * Double(series.count) + 8
        let h = 420.0 + legendHeight
        let left = 70.0
        let right = 20.0
        let top = 40.0
        let bottom = 60.0 + legendHeight
        let xs = series.flatMap { $0.points.map(\.x) }
        let ys = series.flatMap { $0.points.map(\.y) }
        let fx: (Double) -> Double = logX ? { Formulas.naturalLog(max($0, 1e-9)) } : { $0 }
        let x0 = xs.map(fx).min() ?? 0
        let x1 = max(xs.map(fx).max() ?? 1, x0 + 1e-9)
        let y1 = yMax ?? max((ys.max() ?? 1) * 1.1, 1e-9)
        func px(_ x: Double) -> Double { left + (fx(x) - x0) / (x1 - x0) * (w - left - right) }
        func py(_ y: Double) -> Double { h - bottom - y / y1 * (h - top - bottom) }
        var out = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(w))\" height=\"\(Int(h))\" font-family=\"sans-serif\" font-size=\"12\">\n"
        out += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        out += "<text x=\"\(w / 2)\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">\(escape(title))</text>\n"
        out += "<line x1=\"\(left)\" y1=\"\(h - bottom)\" x2=\"\(w - right)\" y2=\"\(h - bottom)\" stroke=\"black\"/>\n"
        out += "<line x1=\"\(left)\" y1=\"\(top)\" x2=\"\(left)\" y2=\"\(h - bottom)\" stroke=\"black\"/>\n"
        for k in 0...5 {
            let y = y1 * Double(k) / 5
            out += "<line x1=\"\(left - 4)\" y1=\"\(fixed(py(y), 1))\" x2=\"\(w - right)\" y2=\"\(fixed(py(y), 1))\" stroke=\"#ddd\"/>\n"
            out += "<text x=\"\(left - 8)\" y=\"\(fixed(py(y) + 4, 1))\" text-anchor=\"end\">\(fixed(y, y1 < 10 ? 2 : 0))</text>\n"
        }
        for k in 0...5 {
            let xv = x0 + (x1 - x0) * Double(k) / 5
            let label = logX ? exp(xv) : xv
            let xp = left + Double(k) / 5 * (w - left - right)
            out += "<text x=\"\(fixed(xp, 1))\" y=\"\(h - bottom + 18)\" text-anchor=\"middle\">\(fixed(label, label < 10 ? 1 : 0))</text>\n"
        }
        out += "<text x=\"\((left + w - right) / 2)\" y=\"\(h - bottom + 40)\" text-anchor=\"middle\">\(escape(xLabel))</text>\n"
        out += "<text x=\"18\" y=\"\((top + h - bottom) / 2)\" text-anchor=\"middle\" transform=\"rotate(-90 18 \((top + h - bottom) / 2))\">\(escape(yLabel))</text>\n"
        for s in series {
            let pts = s.points.map { "\(fixed(px($0.x), 1)),\(fixed(py(min($0.y, y1)), 1))" }.joined(separator: " ")
            out += "<polyline fill=\"none\" stroke=\"\(s.color)\" stroke-width=\"2\" points=\"\(pts)\"/>\n"
            for p in s.points where s.points.count <= 12 {
                out += "<circle cx=\"\(fixed(px(p.x), 1))\" cy=\"\(fixed(py(min(p.y, y1)), 1))\" r=\"3\" fill=\"\(s.color)\"/>\n"
            }
        }
        // The legend goes under the plot, where no line can hide it.
        for (n, s) in series.enumerated() {
            let ly = h - legendHeight + 14 + Double(n) * 18
            out += "<rect x=\"\(left + 12)\" y=\"\(ly - 9)\" width=\"14\" height=\"4\" fill=\"\(s.color)\"/>\n"
            out += "<text x=\"\(left + 32)\" y=\"\(ly - 3)\">\(escape(s.label))</text>\n"
        }
        out += "</svg>\n"
        return out
    }

    static func exp(_ x: Double) -> Double {
        // Enough for axis labels: e^x by repeated squaring of a short series.
        var r = 1.0
        var term = 1.0
        let y = x / 64
        for k in 1..<20 {
            term *= y / Double(k)
            r += term
        }
        for _ in 0..<6 { r *= r }
        return r
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
    }

    /// `x` with `digits` decimals, without Foundation's formatter.
    public static func fixed(_ x: Double, _ digits: Int) -> String {
        if !x.isFinite { return "\(x)" }
        var p = 1.0
        for _ in 0..<digits { p *= 10 }
        let scaled = (abs(x) * p).rounded()
        let whole = Int(scaled / p)
        let frac = Int(scaled - Double(whole) * p)
        let sign = x < 0 && scaled != 0 ? "-" : ""
        if digits == 0 { return "\(sign)\(whole)" }
        let f = String(frac)
        return "\(sign)\(whole).\(String(repeating: "0", count: digits - f.count))\(f)"
    }
}

extension String {
    fileprivate func replacingOccurrences(of a: String, with b: String) -> String {
        var out = ""
        var rest = Substring(self)
        while let r = rest.firstRange(of: a) {
            out += rest[..<r.lowerBound]
            out += b
            rest = rest[r.upperBound...]
        }
        out += rest
        return out
    }
}

extension ScenarioReport {
    public func summary(wall: Duration? = nil) -> String {
        func s(_ d: Duration?) -> String { d.map { Chart.fixed(Double($0.nanoseconds) / 1e9, 3) + " s" } ?? "never" }
        var lines = [
            "scenario \(scenario.rawValue): \(options.nodes) nodes\(options.formed ? " (formed)" : ""), seed \(options.seed), lifeguard \(options.lifeguard ? "on" : "off"), loss \(Chart.fixed(options.loss * 100, 1))%",
            "  virtual time          \(s(virtualTime))",
            "  convergence           \(s(convergence))",
        ]
        if scenario == .crash {
            lines.append("  detection first/last  \(s(firstDetection)) / \(s(lastDetection))")
        }
        if scenario == .partition { lines.append("  heal time             \(s(healTime))") }
        if scenario == .leave {
            lines.append("  reported left/failed  \(reportedLeft) / \(reportedFailed)")
        }
        if scenario == .pause {
            lines.append("  paused: suspected by  \(suspectedBy), raised by \(raisedBy), reported failed by \(reportedFailed)")
        }
        lines += [
            "  false positives       \(falsePositives)",
            "  suspicions            \(suspicions)",
            "  converged at end      \(converged)",
            "  per node per second   \(Chart.fixed(packetsPerNodeSecond, 1)) packets, \(Chart.fixed(bytesPerNodeSecond, 0)) bytes",
            "  largest datagram      \(metrics.largestPacket) bytes",
            "  events handled        \(events)",
            "  tables, queues at end \(Chart.fixed(Double(tableBytes) / 1e6, 1)) MB, \(Chart.fixed(Double(queueBytes) / 1e6, 1)) MB",
            "  trace hash            \(String(traceHash, radix: 16))",
        ]
        if !samples.isEmpty {
            lines.append(
                "  tables, queues peak   \(Chart.fixed(Double(peakTableBytes) / 1e6, 1)) MB, \(Chart.fixed(Double(peakQueueBytes) / 1e6, 1)) MB (largest sample)")
        }
        if let wall {
            let w = Double(wall.nanoseconds) / 1e9
            lines.append("  wall time             \(Chart.fixed(w, 2)) s (\(Chart.fixed(Double(virtualTime.nanoseconds) / 1e9 / max(w, 1e-9), 1)) virtual s per wall s)")
        }
        return lines.joined(separator: "\n")
    }
}
