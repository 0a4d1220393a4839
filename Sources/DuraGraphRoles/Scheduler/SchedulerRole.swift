import DuraGraphCore
import DuraGraphStorage

/// The `scheduler` role: claims queued runs and executes them.
public final class SchedulerRole: Role {
    public let name = "scheduler"
    public let channels = [Channel.runs, Channel.control]
    public init() {}
    public func start(_ ctx: RoleContext) throws {}
    public func drain(_ ctx: RoleContext) {}
}
