/// What a node counts about its own decisions; the runtime exports these as metrics.
public struct Counters: Sendable, Equatable {
    public init() {}

    public var probes = 0
    public var indirectProbes = 0
    public var suspicionsRaised = 0
    public var refutations = 0
    public var misdirectedPings = 0
    /// Port-unreachable reports taken as evidence against a probed member (`Input.unreachable`),
    /// and those ignored: no open probe to a live member at the quoted address, or a repeat.
    public var unreachableEvidence = 0
    public var unreachableIgnored = 0
    /// Live members asked to prove themselves because their name was claimed from another address.
    public var contests = 0
    /// Join attempts that found this node's name contested at a seed and waited for the next attempt.
    public var joinsWaitingOnContest = 0
    /// Input refused where it entered, by reason.
    public var refusals = Refusals()
    public var pushPulls = 0
    public var messagesIn = 0
    public var messagesOut = 0
    /// Push/pull sections of types this version does not know, skipped.
    public var unknownSections = 0
    /// Push/pull exchanges whose connection ended before their last frame.
    public var incompleteExchanges = 0
    /// User events fired here, and delivered here (each once, own events included).
    public var userEventsFired = 0
    public var userEventsDelivered = 0
    /// Copies of user events and queries already delivered, dropped.
    public var duplicates = 0
    /// User events and queries older than the dedupe window, or in a full slot, dropped.
    public var tooOld = 0
    /// Datagrams sent by eager push (events and queries pushed at once on first receipt).
    public var eagerPushes = 0
    /// Events and queries left to gossip alone because the eager-push budget of the round was spent.
    public var eagerPushesSkipped = 0
    /// Queries asked here; queries received that selected this node; answers and acks sent.
    public var queriesAsked = 0
    public var queriesReceived = 0
    /// Queries that selected this node while `BroadcastCaps.query` of them were still answerable.
    public var queriesDropped = 0
    public var queryResponsesSent = 0
    /// Acks and responses taken for this node's queries, and those that came too late or twice.
    public var queryResponsesReceived = 0
    public var queryResponsesIgnored = 0
    /// Datagrams not sent because what they had to carry exceeded this node's payload budget
    /// (a relayed answer or event from a peer with a larger budget).
    public var oversizedNotSent = 0
    /// Responses forwarded for others as a relay.
    public var relaysForwarded = 0
    /// Caller requests (events, queries, answers, tags) refused (`Output.requestRefused`).
    public var requestsRefused = 0
    /// Replicated-state rows written here, rows applied from the network, and copies of rows
    /// already held (older or as old) dropped.
    public var stateRowsWritten = 0
    public var stateRowsApplied = 0
    public var stateRowDuplicates = 0
    /// Rows of owners this node does not know, or knows to have left, dropped.
    public var stateRowsOfUnknownOwners = 0
    /// Follow-up push/pull conversations sent to give a responder the rows its digest lacked.
    public var stateFollowUps = 0
    /// Exchanges started with an owner back from failed (`GossipInstance.syncWithReturning`).
    public var stateSyncsWithReturning = 0
    /// Gaps in an owner's versions seen (from a row or an announcement), repair requests sent,
    /// and gaps given up on after `maxRepairAttempts` requests (left to push/pull).
    public var stateGapsSeen = 0
    public var stateRepairs = 0
    public var stateGapsAbandoned = 0
    /// Announcements of owners' newest versions (message type 14) sent and received.
    public var stateAnnouncementsOut = 0
    public var stateAnnouncementsIn = 0
    /// Rows an exchange brought that were new here, sent on to this node's tree children.
    public var stateRowsForwarded = 0
    /// Gaps an exchange with a member other than the owner left open: both sides equal, and
    /// nothing changed here (the member was as behind), so the next attempt asks the owner.
    public var stateGapsEscalated = 0
    /// Tombstones dropped after `Settings.stateTombstoneAge`.
    public var tombstonesCollected = 0
}
