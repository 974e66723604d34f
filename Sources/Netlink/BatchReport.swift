/// What a batch did. Every request was sent; those listed here did not take effect.
public struct BatchReport: Sendable {
    public struct Failure: Sendable, CustomStringConvertible {
        /// Position of the change in the batch that was passed in.
        public var index: Int
        public var change: RowChange
        public var error: NetlinkError
        public var description: String { "#\(index) \(change): \(error)" }
    }

    public var requested: Int = 0
    public var failures: [Failure] = []
    /// Changes not sent because they would have touched a row someone else wrote.
    public var skippedForeign: [RowChange] = []
    /// `sendto` calls made; the point of batching is that this stays small.
    public var sends: Int = 0

    public var applied: Int { requested - failures.count - skippedForeign.count }
    public var allApplied: Bool { failures.isEmpty && skippedForeign.isEmpty }

    /// True when acknowledgements were lost to a full socket: the outcome of the rows reported
    /// with ENOBUFS is unknown and the caller should dump and reconcile.
    public var needsResync: Bool { failures.contains { $0.error.meansStateLost } }
}
