/// What a node counts about its own decisions; the runtime exports these as metrics.
public struct Counters: Sendable, Equatable {
    public init() {}

    public var probes = 0
    public var indirectProbes = 0
    public var suspicionsRaised = 0
    public var refutations = 0
    public var misdirectedPings = 0
    /// Input refused where it entered, by reason.
    public var refusals = Refusals()
    public var pushPulls = 0
    public var messagesIn = 0
    public var messagesOut = 0
    /// Push/pull sections of types this version does not know, skipped.
    public var unknownSections = 0
    /// Push/pull exchanges whose connection ended before their last frame.
    public var incompleteExchanges = 0
}
