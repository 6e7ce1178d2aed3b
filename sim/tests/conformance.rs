//! A conformance suite for tritium-sim transcribed from Mesos's own tests
//! (apache/mesos, `src/tests/`): what a Mesos master does toward a v1 HTTP
//! scheduler — status codes, events, their order and fields, task states
//! and reasons, and the error messages the simulator reproduces.
//!
//! Every check is a `#[test]` named after its Mesos test (snake case, in a
//! module named after the source file), whose doc comment starts with
//! `Mesos: Fixture.TestName`, and runs against a simulator started in
//! process on 127.0.0.1 over real sockets, once per encoding
//! (`application/x-protobuf`, then `application/json`: see
//! [`client::each_encoding`]). A check of a rule no Mesos test covers says
//! so in place of the test's name and cites the master source it follows
//! (e.g. `reconciliation::explicit_acknowledged_terminal_task`). Nothing
//! waits by sleeping: reads have
//! deadlines, "nothing happens" is checked over a number of HEARTBEATs or
//! up to the answer of a barrier reconciliation ([`client`]).
//!
//! Where the simulator deliberately differs from Mesos, the check says so
//! ("Deliberate difference") and asserts what the simulator does. Every
//! other check states Mesos's behaviour; none is ignored: a simulator bug
//! a new check exposes is fixed, not marked `#[ignore]`.
//!
//! | module | Mesos source | fixtures |
//! |---|---|---|
//! | [`scheduler_http_api`] | scheduler_http_api_tests.cpp | SchedulerHttpApiTest |
//! | [`scheduler`] | scheduler_tests.cpp | SchedulerTest, SchedulerSSLTest |
//! | [`reconciliation`] | reconciliation_tests.cpp | ReconciliationTest |
//! | [`role`] | role_tests.cpp | RoleTest |
//! | [`master_validation`] | master_validation_tests.cpp | TaskValidationTest, FrameworkInfoValidationTest |
//! | [`task_group`] | master_validation_tests.cpp, default_executor_tests.cpp | TaskGroupValidationTest, DefaultExecutorTest (a group killed with one failed or killed task) |
//! | [`partition`] | partition_tests.cpp | PartitionTest |
//! | [`command_executor`] | command_executor_tests.cpp, slave_tests.cpp | CommandExecutorTest (TASK_KILLING), SlaveTest.CommandTaskWithKillPolicy |
//!
//! Mapping of Mesos's setup: an agent of `cpus:2;mem:1024;disk:1024` is a
//! simulated agent of that shape ([`client::AGENT_SHAPE`]);
//! `DEFAULT_FRAMEWORK_INFO` is [`client::default_framework`]; a partition
//! (the master's pings unanswered) is the `lose_agent` fault, the agent's
//! re-registration `recover_agent`; a master restart is a leader failover
//! between two listeners; `REASON_SLAVE_REMOVED` is v1's
//! `REASON_AGENT_REMOVED`; `slaveLost` is a FAILURE event with an agent id.
//!
//! ## Mesos tests not transcribed
//!
//! | Mesos test | why not |
//! |---|---|
//! | SchedulerHttpApiTest.UpdatePidToHttpScheduler, UpdateHttpToPidScheduler, UpdateHttpToPidSchedulerAndBack | PID (libprocess driver) schedulers; the simulator speaks only the v1 HTTP API |
//! | SchedulerTest.SubscribeDrop | the scheduler library drops a second SUBSCRIBE on one connection: client behaviour |
//! | SchedulerTest.MetricsEndpoint | the scheduler library's metrics |
//! | SchedulerTest.OperationFeedbackValidationWithResourceProviderCapability, OperationFeedbackValidationNoResourceProviderCapability | operation feedback (ids on operations) and resource providers are not modelled |
//! | SchedulerReconcileTasks_BENCHMARK_Test.SchedulerLibrary, SchedulerDriver | benchmarks |
//! | ReconciliationTest.RecoveredAgent, RecoveredAgentReregistrationInProgress | agents recovered from the registry after a master restart, not yet re-registered: the simulator has no registry, its agents survive a failover |
//! | ReconciliationTest.DISABLED_RemovalInProgress | disabled in Mesos |
//! | CommandExecutorTest.MaxCompletionTime, AllocationRoleEnvironmentVariable, ExecutorDomainSockets; HTTPCommandExecutorTest.TerminateWithACK, ExplicitAcknowledgements | the executor's own process, environment and agent API: the simulator has no executors (`TaskInfo.max_completion_time` is not modelled) |
//! | CommandExecutorTest.NoTransitionFromKillingToRunning | the simulated health check runs once, right after RUNNING, and a task being killed takes no step but its end (`task_step`); a loopback client cannot order its KILL before that one check without racing it |
//! | RoleTest.ImplicitRoleStaticReservation | the agent's `--resources` static reservations |
//! | RoleTest.ImplicitRoleRegister (its RESERVE and CREATE steps) | dynamic reservations and persistent volumes are not modelled beyond loose bookkeeping; its subscription and offers are transcribed |
//! | RoleTest.EndpointEmpty, EndpointWithWhitelistNoFrameworks, RolesEndpointContainsQuota, RolesEndpointContainsConsumedQuota, EndpointImplicitRolesWeights, EndpointImplicitRolesQuotas, EndpointImplicitRolesReservations, EndpointImplicitRolesAncestors, AddAndRemoveFrameworkWithMultipleRoles, EndpointBadAuthentication | the operator `/roles` endpoint, quota and weights |
//! | RoleTest.Parsing, Ancestors, isStrictSubroleOf | unit tests of `roles::` helpers with no master behaviour (RoleTest.Validate is transcribed as subscriptions) |
//! | RoleTest.VolumesInOverlappingHierarchies | persistent volumes |
//! | MasterCallValidationTest.UpdateQuota | operator API |
//! | ResourceValidationTest.* (14), ReserveOperationValidationTest.* (12), UnreserveOperationValidationTest.* (5), CreateOperationValidationTest.* (9), DestroyOperationValidationTest.* (4), GrowVolumeOperationValidationTest.* (8), ShrinkVolumeOperationValidationTest.* (8), OperationValidationTest.CreateDisk, DestroyDisk | unit tests of the validation of reservations, persistent volumes, disks and resource providers, which the simulator does not model |
//! | TaskValidationTest.ExecutorUsesInvalidFrameworkID, ExecutorMissingFrameworkID, ExecutorEnvironmentInvalid, TaskEnvironmentInvalid, TaskSettingDockerParameterName, ResourceLimitLessThanRequest, LimitOtherThanCpuOrMem, NestedCgroupInLaunchOperation, SharedCgroupOnExecutor | fields the simulator does not validate (executor framework ids, environment secrets, docker parameters, resource limits, cgroups) |
//! | TaskValidationTest.TaskUsesRevocableResources, TaskInfoAllocatedResources, TaskAndExecutorUseRevocableResources | unit tests of validation functions (revocable resources: not modelled) |
//! | TaskValidationTest.ExecutorInfoDiffersOnDifferentSlaves | a custom executor on two agents (Mesos expects both to run; the simulator has no executors to compare) |
//! | TaskValidationTest.DISABLED_TaskMesosTypeWithDockerInfo | disabled in Mesos |
//! | ExecutorValidationTest.ExecutorType, ExecutorID, ExecutorInfoAllocatedResources | unit tests of executor validation functions |
//! | TaskGroupValidationTest.TaskGroupUsesRevocableResources, TaskGroupAndExecutorUsesRevocableResources, ExecutorEnvironmentInvalid, TaskEnvironmentInvalid, ResourceLimits, ShareCgroup | revocable resources, environment secrets, resource limits and shared cgroups: not validated by the simulator |
//! | DefaultExecutorTest.* but the group kills | the executor's own process, its agent API, nested containers and their checks (the simulator runs a group's tasks as it runs any task) |
//! | FrameworkInfoValidationTest.ValidateOfferFilters, ValidateUpdate | unit tests of offer filters and of UPDATE_FRAMEWORK's field rules |
//! | FrameworkInfoValidationTest.MultiRoleWhitelist | the `--roles` whitelist (see `role::bad_register`) |
//! | FrameworkInfoValidationTest.RoleChangeWithMultiRoleMasterFailover | the new master learning the framework from its agents first |
//! | RegisterSlaveValidationTest.* | agent registration |
//! | PartitionTest.ReregisterPartitionedAgentWithEnrouteTask, PartitionedSlaveOrphanedTask, SpuriousSlaveReregistration, PartitionedSlaveStatusUpdates, PartitionedSlaveExitedExecutor | agent-side messages (tasks in flight, orphans shut down on re-registration, re-registration while registered, updates and executor exits from a partitioned agent) |
//! | PartitionTest.TaskCompletedOnPartitionedAgent, PartitionAwareTaskCompletedOnPartitionedAgent, AgentWithTerminalTaskPartitioned | tasks changing state on an agent while it is partitioned: the simulator's agents stand still while unreachable |
//! | PartitionTest.RegistryGcByCount, RegistryGcByCountManySlaves, RegistryGcByAge, RegistryGcRace | registry garbage collection of unreachable agents |
//! | PartitionTest.FailHealthChecksTwice | agent-side health checks |
//! | OneWayPartitionTest.MasterToSlave, MasterToScheduler | one-way message loss between processes |

#[path = "conformance/client.rs"]
mod client;
#[path = "conformance/command_executor.rs"]
mod command_executor;
#[path = "conformance/master_maintenance.rs"]
mod master_maintenance;
#[path = "conformance/master_validation.rs"]
mod master_validation;
#[path = "conformance/partition.rs"]
mod partition;
#[path = "conformance/reconciliation.rs"]
mod reconciliation;
#[path = "conformance/role.rs"]
mod role;
#[path = "conformance/scheduler.rs"]
mod scheduler;
#[path = "conformance/scheduler_http_api.rs"]
mod scheduler_http_api;
#[path = "conformance/task_group.rs"]
mod task_group;
