import DuraGraphCore
import DuraGraphStorage

/// The `webhook-dispatcher` role: delivers due webhook deliveries.
public final class DispatcherRole: Role {
    public let name = "webhook-dispatcher"
    public let channels = [Channel.webhooks]
    public init() {}
    public func start(_ ctx: RoleContext) throws {}
    public func drain(_ ctx: RoleContext) {}
}
