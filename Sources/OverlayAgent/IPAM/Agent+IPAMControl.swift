import GrapevineAPI

/// `GET /v1/ipam` and `POST /v1/ipam/reclaim` (`grapevine ipam`).
extension Agent {
    public func ipam() async -> IPAMStatus { ipam?.status ?? IPAMStatus(networks: []) }

    public func ipamReclaim(_ request: IPAMReclaimRequest) async throws(AgentError) -> IPAMReclaimReply {
        guard let ipam else { throw .notFound("no_ipam", "this agent does not serve Docker") }
        switch await ipam.reclaim(request.host) {
        case .success(let taken): return IPAMReclaimReply(reclaimed: taken)
        case .failure(let r) where r.code == "unknown_host": throw .notFound(r.code, r.message)
        case .failure(let r): throw .conflict(r.code, r.message)
        }
    }
}
