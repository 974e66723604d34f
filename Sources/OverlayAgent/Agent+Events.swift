import Gossip

extension Agent {
    /// Membership changes go to the monitor stream and to event handlers (Serf's names).
    func follow(_ updates: MembershipUpdates) async {
        for await update in updates {
            switch update {
            case .event(let event):
                guard let kind = Self.serfName(event.kind) else { continue }
                let m = event.member
                hub.publish(MonitorRecord(type: "member", time: clock.now(), event: kind, name: m.name, address: "\(m.address)"))
                handlers.memberEvent(kind, members: [Self.view(m)])
            case .lost(let members):
                logger.warning("membership events lost", metadata: ["events.members": "\(members.count)"])
                hub.publish(MonitorRecord(type: "lost", time: clock.now(), count: members.count))
            }
        }
    }

    static func serfName(_ kind: MembershipEvent.Kind) -> String? {
        switch kind {
        case .joined: "member-join"
        case .updated: "member-update"
        case .failed: "member-failed"
        case .left: "member-leave"
        case .reaped: "member-reap"
        case .suspected, .recovered: nil
        }
    }

    func follow(_ updates: Updates<UserEventUpdate>) async {
        for await update in updates {
            switch update {
            case .event(let e):
                hub.publish(MonitorRecord(type: "user", time: clock.now(), event: e.name, name: e.origin,
                                          message: String(decoding: e.payload, as: UTF8.self)))
                handlers.userEvent(name: e.name, ltime: e.time, payload: e.payload)
            case .lost(let count):
                logger.warning("user events lost", metadata: ["events.lost": "\(count)"])
            }
        }
    }

    /// A query a handler answers is answered with the handler's output; the rest are only
    /// acknowledged (the runtime acks every query that selects this member).
    func follow(_ updates: Updates<IncomingQueryUpdate>) async {
        await withDiscardingTaskGroup { group in
            for await update in updates {
                switch update {
                case .query(let q):
                    hub.publish(MonitorRecord(type: "query", time: clock.now(), event: q.name, name: q.origin))
                    let handlers = self.handlers, node = self.node, logger = self.logger
                    group.addTask {
                        guard let answer = await handlers.query(name: q.name, ltime: q.time, payload: q.payload) else { return }
                        do { try await node.respond(to: q.responder, payload: answer) } catch {
                            logger.info("query response refused", metadata: ["query.name": "\(Limits.escaped(q.name))", "query.error": "\(error)"])
                        }
                    }
                case .lost(let count):
                    logger.warning("queries lost", metadata: ["queries.lost": "\(count)"])
                }
            }
        }
    }
}
