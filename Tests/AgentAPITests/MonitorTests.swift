import Foundation
import LocalHTTP
import Logging
import NIOCore
import OverlayAgent
import Synchronization
import Testing

@Suite struct MonitorHubTests {
    private func record(_ index: Int) -> MonitorRecord {
        MonitorRecord(type: "row", time: Double(index), event: "added", key: "\(index)")
    }

    @Test func aSlowReaderGetsOneLostRecordInPlaceOfWhatItMissed() async {
        let hub = MonitorHub()
        var reader = hub.subscribe(buffer: 2).makeAsyncIterator()
        for index in 0..<5 { hub.publish(record(index)) }  // 2 fit, 3 are dropped
        #expect(await reader.next()?.key == "0")
        #expect(await reader.next()?.key == "1")
        hub.publish(record(5))
        let lost = await reader.next()
        #expect(lost?.type == "lost")
        #expect(lost?.count == 3)
        #expect(await reader.next()?.key == "5")
    }

    @Test func eachSubscriberHasItsOwnBuffer() async {
        let hub = MonitorHub()
        var slow = hub.subscribe(buffer: 1).makeAsyncIterator()
        var fast = hub.subscribe(buffer: 8).makeAsyncIterator()
        for index in 0..<3 { hub.publish(record(index)) }
        for index in 0..<3 { #expect(await fast.next()?.key == "\(index)") }
        #expect(await slow.next()?.key == "0")
    }

    @Test func aReaderThatStopsIsUnsubscribed() async {
        let hub = MonitorHub()
        let stream = hub.subscribe(buffer: 4)
        #expect(hub.subscriberCount == 1)
        let reader = Task { for await _ in stream {} }
        reader.cancel()
        await reader.value
        #expect(hub.subscriberCount == 0)
        hub.publish(record(0))  // nobody to hand it to; must not trap or wait
    }

    @Test func finishEndsEveryStream() async {
        let hub = MonitorHub()
        var reader = hub.subscribe(buffer: 4).makeAsyncIterator()
        hub.finish()
        #expect(await reader.next() == nil)
        #expect(hub.subscriberCount == 0)
    }

    @Test func theLogHandlerForwardsAndPublishesWithMetadata() async {
        let hub = MonitorHub()
        var reader = hub.subscribe(buffer: 4).makeAsyncIterator()
        let lines = LogLines()
        var logger = Logger(label: "t") { _ in MonitorLogHandler(inner: RecordingLogHandler(lines: lines), hub: hub) }
        logger[metadataKey: "agent.name"] = "alpha"
        logger.info("joined", metadata: ["gossip.members": "3"])
        #expect(lines.all == ["joined"])
        let published = await reader.next()
        #expect(published?.type == "log")
        #expect(published?.level == "info")
        #expect(published?.message == "joined agent.name=alpha gossip.members=3")
    }
}

final class LogLines: Sendable {
    private let lines = Mutex<[String]>([])
    var all: [String] { lines.withLock { $0 } }
    func append(_ line: String) { lines.withLock { $0.append(line) } }
}

/// Keeps each message; logs everything.
struct RecordingLogHandler: LogHandler {
    let lines: LogLines
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?
    var logLevel: Logger.Level = .trace

    func log(event: LogEvent) { lines.append(event.message.description) }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
}

/// `/v1/monitor` over HTTP.
@Suite struct MonitorStreamTests {
    /// Opens `/v1/monitor`, checks its head, waits until the agent has subscribed it, then
    /// hands the open answer to `read`.
    private func withMonitor(_ server: RunningServer, _ read: (inout LocalHTTPAnswer) async throws -> Void) async throws {
        try await server.client.execute(LocalHTTPClient.Request(.GET, "/v1/monitor"), deadline: .distantFuture) { answer in
            #expect(answer.status == 200)
            #expect(answer.headers["Content-Type"] == ["application/x-ndjson"])
            var subscribed = server.agent.subscriptions.makeAsyncIterator()
            _ = await subscribed.next()
            try await read(&answer)
        }
    }

    @Test func recordsArriveAsTheyArePublished() async throws {
        try await withServer { server in
            try await withMonitor(server) { reader in
                let records = [
                    MonitorRecord(type: "member", time: 1, event: "member-join", name: "beta", address: "10.0.0.2:7946"),
                    MonitorRecord(type: "row", time: 2, event: "added", name: "beta", table: "endpoints", key: "blue/02:00:00:00:00:02"),
                    MonitorRecord(type: "log", time: 3, level: "info", message: "reconciled"),
                ]
                for record in records {
                    server.agent.hub.publish(record)
                    let next = try await nextRecord(&reader)
                    #expect(next == record)
                }
            }
        }
    }

    /// A reader that does not read while a burst larger than every buffer on the way is
    /// published: it then gets what fit, a `lost` record counting exactly the gap, and what
    /// came after.
    @Test func aSlowReaderGetsALostRecordCountingTheGap() async throws {
        try await withServer(agent: FakeAgent(monitorBuffer: 2)) { server in
            try await withMonitor(server) { reader in
                let filler = String(repeating: "f", count: 10_000)
                var published = 0
                func publish() {
                    server.agent.hub.publish(MonitorRecord(type: "log", time: Double(published), message: filler, count: published))
                    published += 1
                }
                for _ in 0..<400 { publish() }  // 4 MB: more than the socket and both sides' buffers hold
                var last = -1
                var lostSinceLast = 0
                var sawGap = false
                while !sawGap, published < 10_000, let record = try await nextRecord(&reader) {
                    publish()  // room frees as the reader reads; the next record lands after the lost one
                    if record.type == "lost" {
                        lostSinceLast += record.count ?? 0
                        continue
                    }
                    let index = try #require(record.count)
                    #expect(index - last - 1 == lostSinceLast, "records \(last) to \(index) with \(lostSinceLast) reported lost")
                    sawGap = lostSinceLast > 0
                    last = index
                    lostSinceLast = 0
                }
                #expect(sawGap)
            }
        }
    }

    @Test(.timeLimit(.minutes(1))) func theStreamEndsWhenTheClientGoesAway() async throws {
        try await withServer(agent: FakeAgent(tracksMonitorEnds: true)) { server in
            let (read, reading) = AsyncStream.makeStream(of: MonitorRecord.self)
            let client = Task {
                try await server.client.execute(LocalHTTPClient.Request(.GET, "/v1/monitor"), deadline: .distantFuture) { answer in
                    // Read until cancelled: then the connection closes.
                    while let record = try await nextRecord(&answer) { reading.yield(record) }
                }
            }
            var subscribed = server.agent.subscriptions.makeAsyncIterator()
            _ = await subscribed.next()
            server.agent.hub.publish(MonitorRecord(type: "log", time: 1, message: "first"))
            var records = read.makeAsyncIterator()
            #expect(await records.next()?.message == "first")
            client.cancel()
            var ends = server.agent.monitorEnds.makeAsyncIterator()
            #expect(await ends.next() != nil)
        }
    }
}

/// The next record of an open `/v1/monitor` answer; nil at its end.
private func nextRecord(_ answer: inout LocalHTTPAnswer) async throws -> MonitorRecord? {
    guard let line = try await answer.nextLine(upTo: 1 << 20) else { return nil }
    return try JSONDecoder().decode(MonitorRecord.self, from: Data(line.readableBytesView))
}
