import Metrics
import OverlayAgent
import Testing

struct AgentMetricsTests {
    @Test func everyMetricIsExposed() {
        let metrics = AgentMetrics()
        metrics.reconciled(network: "blue", reason: .drift, seconds: 0.003)
        metrics.applied(network: "blue", kind: .unicast, count: 5)
        metrics.applied(network: "blue", kind: .unicast, count: 2)
        metrics.driftRepaired(network: "blue")
        metrics.netlinkError(operation: "fdb_dump")
        metrics.setEndpoints(network: "blue", local: 3, remote: 12)
        metrics.setConflicts(network: "blue", count: 1)
        metrics.rowRefused(reason: "bad_mac")
        metrics.rowRefused(reason: "bad_mac")
        let text = metrics.text()
        for name in ["grapevine_reconcile_runs_total", "grapevine_reconcile_seconds", "grapevine_rows_applied_total",
                     "grapevine_drift_repairs_total", "grapevine_netlink_errors_total", "grapevine_endpoints",
                     "grapevine_conflicts", "grapevine_rows_refused_total", "grapevine_handler_runs_total",
                     "grapevine_handler_seconds"] {
            #expect(text.contains("# TYPE \(name) "), "\(name) missing from:\n\(text)")
        }
        let lines = Set(text.split(separator: "\n").map(String.init))
        for line in [
            #"grapevine_reconcile_runs_total{network="blue",reason="drift"} 1"#,
            #"grapevine_reconcile_runs_total{network="blue",reason="timer"} 0"#,
            #"grapevine_reconcile_seconds_count{network="blue"} 1"#,
            #"grapevine_reconcile_seconds_bucket{network="blue",le="0.0025"} 0"#,
            #"grapevine_reconcile_seconds_bucket{network="blue",le="0.005"} 1"#,
            #"grapevine_rows_applied_total{network="blue",kind="unicast"} 7"#,
            #"grapevine_rows_applied_total{network="blue",kind="delete"} 0"#,
            #"grapevine_drift_repairs_total{network="blue"} 1"#,
            #"grapevine_netlink_errors_total{operation="fdb_dump"} 1"#,
            #"grapevine_endpoints{network="blue",scope="local"} 3.0"#,
            #"grapevine_endpoints{network="blue",scope="remote"} 12.0"#,
            #"grapevine_conflicts{network="blue"} 1.0"#,
            #"grapevine_rows_refused_total{reason="bad_mac"} 2"#,
            #"grapevine_handler_runs_total{event="member-join",result="ok"} 0"#,
        ] {
            #expect(lines.contains(line), "\(line) missing from:\n\(text)")
        }
    }

    @Test func theFactoryWritesIntoTheSameRegistry() {
        let metrics = AgentMetrics()
        Counter(label: "gossip_test_total", dimensions: [("node", "a")], factory: metrics.factory).increment(by: 4)
        #expect(metrics.text().contains(#"gossip_test_total{node="a"} 4"#))
    }

    @Test func aNetworkIsKeptApart() {
        let metrics = AgentMetrics()
        metrics.setEndpoints(network: "blue", local: 1, remote: 0)
        metrics.setEndpoints(network: "red", local: 2, remote: 5)
        metrics.setEndpoints(network: "blue", local: 4, remote: 0)
        let text = metrics.text()
        #expect(text.contains(#"grapevine_endpoints{network="blue",scope="local"} 4.0"#))
        #expect(text.contains(#"grapevine_endpoints{network="red",scope="remote"} 5.0"#))
    }
}
