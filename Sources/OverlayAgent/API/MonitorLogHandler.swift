public import Logging
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A `LogHandler` that passes every line to `inner` and also publishes it to a `MonitorHub`
/// as a `log` record (`level`, `message` followed by the line's metadata as `key=value`), so
/// `grapevine monitor` shows the agent's log. Lines are only formatted for the hub when
/// someone is subscribed.
public struct MonitorLogHandler: LogHandler {
    public var inner: any LogHandler
    public let hub: MonitorHub

    public init(inner: any LogHandler, hub: MonitorHub) {
        self.inner = inner
        self.hub = hub
    }

    public var metadataProvider: Logger.MetadataProvider? {
        get { inner.metadataProvider }
        set { inner.metadataProvider = newValue }
    }

    public var metadata: Logger.Metadata {
        get { inner.metadata }
        set { inner.metadata = newValue }
    }

    public var logLevel: Logger.Level {
        get { inner.logLevel }
        set { inner.logLevel = newValue }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { inner[metadataKey: key] }
        set { inner[metadataKey: key] = newValue }
    }

    public func log(event: LogEvent) {
        inner.log(event: event)
        guard hub.subscriberCount > 0 else { return }
        var merged = inner.metadata
        if let provided = inner.metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let own = event.metadata { merged.merge(own) { _, new in new } }
        var message = event.message.description
        for (key, value) in merged.sorted(by: { $0.key < $1.key }) {
            message += " \(key)=\(value)"
        }
        hub.publish(MonitorRecord(
            type: "log", time: Date().timeIntervalSince1970, level: event.level.rawValue, message: message))
    }
}
