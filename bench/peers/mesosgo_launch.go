// mesosgo_launch: the mesos-go peer of `tritium-e2e launch` and
// pymesos_launch.py — launch the same tasks on the same simulated cluster
// and report how fast they are all RUNNING (and acknowledged).
//
//	mesosgo-launch -url http://127.0.0.1:5050/api/v1/scheduler [-tasks 10000] [-cpu 0.1] [-mem 32]
//
// A plain mesos-go v1 scheduler (the Debian package
// golang-github-mesos-mesos-go-dev, built in GOPATH mode), written the way
// the library's own example-scheduler (api/v1/cmd/example-scheduler) is:
//
//   - the HTTP scheduler client is httpcli + httpsched.NewCaller (it keeps
//     the Mesos-Stream-Id and follows a leader redirect), protobuf codec;
//   - controller.Run subscribes and runs the event loop (one goroutine,
//     events handled in order), with eventrules/events.Handlers;
//   - UPDATE: controller.AckStatusUpdates acknowledges every update (a
//     synchronous ACKNOWLEDGE call) before the framework's own handler
//     counts TASK_RUNNING, so a task counted is a task acknowledged;
//   - OFFERS: per offer, as many tasks as fit (resources.ContainsAll on the
//     offer's unreserved resources, resources.Find and Subtract, like the
//     example) launched with one ACCEPT per offer; the offers of an event
//     that get no task are declined together in one DECLINE; SUPPRESS once
//     every task is launched.
//
// Like pymesos_launch.py it uses the role `tritium` (tritium's) and only
// unreserved resources; the clock starts at the SUBSCRIBED event (the master
// then allocates on its next cycle), and stops when the last task's
// TASK_RUNNING has been acknowledged. Prints one line:
//
//	peer=mesos-go tasks=N seconds_to_running=S tasks_running_per_s=R ...
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"strconv"
	"time"

	"github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/backoff"
	"github.com/mesos/mesos-go/api/v1/lib/encoding/codecs"
	"github.com/mesos/mesos-go/api/v1/lib/extras/scheduler/callrules"
	"github.com/mesos/mesos-go/api/v1/lib/extras/scheduler/controller"
	"github.com/mesos/mesos-go/api/v1/lib/extras/scheduler/eventrules"
	"github.com/mesos/mesos-go/api/v1/lib/extras/store"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/httpsched"
	"github.com/mesos/mesos-go/api/v1/lib/resourcefilters"
	"github.com/mesos/mesos-go/api/v1/lib/resources"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/events"
)

type config struct {
	url     string
	tasks   int
	cpu     float64
	mem     float64
	role    string
	prefix  string
	timeout time.Duration
}

// internalState is the framework's state; only the controller's event loop
// (one goroutine) touches it.
type internalState struct {
	cfg      config
	cli      calls.Caller
	wants    mesos.Resources
	unrsv    resourcefilters.Filters
	launched int
	running  map[string]struct{}

	suppressed bool
	done       func()
	err        error

	tSubscribed, tFirstOffer, tLaunched, tRunning time.Time

	offers, accepts, declines, updates int
}

func buildHTTPSched(cfg config) calls.Caller {
	cli := httpcli.New(
		httpcli.Endpoint(cfg.url),
		httpcli.Codec(codecs.ByMediaType[codecs.MediaTypeProtobuf]),
		httpcli.Do(httpcli.With(httpcli.Timeout(20*time.Second))),
	)
	return httpsched.NewCaller(cli)
}

func buildFrameworkInfo(cfg config) *mesos.FrameworkInfo {
	hostname := "localhost"
	return &mesos.FrameworkInfo{
		User:     "root",
		Name:     "mesos-go-e2e",
		Role:     &cfg.role,
		Hostname: &hostname,
	}
}

func buildWantsTaskResources(cfg config) (r mesos.Resources) {
	r.Add(
		resources.NewCPUs(cfg.cpu).Resource,
		resources.NewMemory(cfg.mem).Resource,
	)
	return
}

func buildEventHandler(state *internalState, fidStore store.Singleton) events.Handler {
	return eventrules.New(
		controller.LiftErrors().DropOnError(),
	).Handle(events.Handlers{
		scheduler.Event_SUBSCRIBED: eventrules.New(
			controller.TrackSubscription(fidStore, 0),
		).HandleF(subscribed(state)),
		scheduler.Event_OFFERS: events.HandlerFunc(resourceOffers(state)),
		scheduler.Event_UPDATE: controller.AckStatusUpdates(state.cli).AndThen().HandleF(statusUpdate(state)),
		scheduler.Event_FAILURE: events.HandlerFunc(func(_ context.Context, e *scheduler.Event) error {
			log.Printf("failure: %+v", e.GetFailure())
			return nil
		}),
	}.Otherwise(events.NoopHandler.HandleEvent))
}

func subscribed(state *internalState) events.HandlerFunc {
	return func(_ context.Context, _ *scheduler.Event) error {
		if state.tSubscribed.IsZero() {
			state.tSubscribed = time.Now()
		}
		return nil
	}
}

func resourceOffers(state *internalState) events.HandlerFunc {
	return func(ctx context.Context, e *scheduler.Event) error {
		var (
			offers   = e.GetOffers().GetOffers()
			unused   []mesos.OfferID
			launch   = calls.RefuseSeconds(5 * time.Second)
			longTime = calls.RefuseSeconds(time.Hour)
		)
		if state.tFirstOffer.IsZero() {
			state.tFirstOffer = time.Now()
		}
		for i := range offers {
			state.offers++
			if state.launched >= state.cfg.tasks {
				unused = append(unused, offers[i].ID)
				continue
			}
			var (
				remaining = mesos.Resources(resourcefilters.Select(state.unrsv, offers[i].Resources...))
				flattened = resources.Flatten(remaining)
				tasks     []mesos.TaskInfo
			)
			for state.launched < state.cfg.tasks && resources.ContainsAll(flattened, state.wants) {
				id := state.cfg.prefix + "." + strconv.Itoa(state.launched)
				state.launched++
				task := mesos.TaskInfo{
					Name:      id,
					TaskID:    mesos.TaskID{Value: id},
					AgentID:   offers[i].AgentID,
					Resources: resources.Find(state.wants, remaining...),
					Command: &mesos.CommandInfo{
						Value: proto("sleep 3600"),
						Shell: &yes,
					},
				}
				remaining.Subtract(task.Resources...)
				tasks = append(tasks, task)
				flattened = resources.Flatten(remaining)
			}
			if len(tasks) == 0 {
				unused = append(unused, offers[i].ID)
				continue
			}
			accept := calls.Accept(
				calls.OfferOperations{calls.OpLaunch(tasks...)}.WithOffers(offers[i].ID),
			).With(launch)
			if err := calls.CallNoData(ctx, state.cli, accept); err != nil {
				// As the example: log and go on (the tasks are not retried,
				// so the run ends by -timeout and reports the error).
				log.Printf("failed to launch tasks: %+v", err)
				continue
			}
			state.accepts++
		}
		if len(unused) > 0 {
			decline := calls.Decline(unused...)
			if state.launched >= state.cfg.tasks {
				decline = decline.With(longTime)
			} else {
				decline = decline.With(launch)
			}
			if err := calls.CallNoData(ctx, state.cli, decline); err != nil {
				log.Printf("failed to decline offers: %+v", err)
			} else {
				state.declines += len(unused)
			}
		}
		if state.launched >= state.cfg.tasks && !state.suppressed {
			if state.tLaunched.IsZero() {
				state.tLaunched = time.Now()
			}
			if err := calls.CallNoData(ctx, state.cli, calls.Suppress()); err != nil {
				log.Printf("failed to suppress offers: %+v", err)
			} else {
				state.suppressed = true
			}
		}
		return nil
	}
}

func statusUpdate(state *internalState) events.HandlerFunc {
	return func(_ context.Context, e *scheduler.Event) error {
		state.updates++
		s := e.GetUpdate().GetStatus()
		switch st := s.GetState(); st {
		case mesos.TASK_RUNNING:
			state.running[s.TaskID.Value] = struct{}{}
			if len(state.running) >= state.cfg.tasks && state.tRunning.IsZero() {
				state.tRunning = time.Now()
				state.done()
			}
		case mesos.TASK_LOST, mesos.TASK_KILLED, mesos.TASK_FAILED, mesos.TASK_ERROR, mesos.TASK_DROPPED:
			log.Printf("task %s: %s %s", s.TaskID.Value, st, s.GetMessage())
		}
		return nil
	}
}

var yes = true

func proto(s string) *string { return &s }

func run(cfg config) (*internalState, error) {
	ctx, cancel := context.WithTimeout(context.Background(), cfg.timeout)
	defer cancel()
	fidStore := store.NewInMemorySingleton()
	state := &internalState{
		cfg: cfg,
		// Every call but SUBSCRIBE carries the framework id the master
		// assigned (kept in fidStore by controller.TrackSubscription).
		cli: callrules.New(
			callrules.WithFrameworkID(store.GetIgnoreErrors(fidStore)),
		).Caller(buildHTTPSched(cfg)),
		wants:   buildWantsTaskResources(cfg),
		unrsv:   resourcefilters.New(resourcefilters.Unreserved),
		running: make(map[string]struct{}, cfg.tasks),
		done:    cancel,
	}
	err := controller.Run(
		ctx,
		buildFrameworkInfo(cfg),
		state.cli,
		controller.WithEventHandler(buildEventHandler(state, fidStore)),
		controller.WithFrameworkID(store.GetIgnoreErrors(fidStore)),
		controller.WithRegistrationTokens(backoff.Notifier(100*time.Millisecond, time.Second, ctx.Done())),
		controller.WithSubscriptionTerminated(func(err error) {
			if err != nil && err != io.EOF && !errors.Is(err, context.Canceled) && ctx.Err() == nil {
				log.Println("subscription ended:", err)
			}
		}),
	)
	if state.tRunning.IsZero() {
		if err == nil || errors.Is(err, context.Canceled) {
			err = ctx.Err()
		}
		if err == nil {
			err = errors.New("stopped before every task was RUNNING")
		}
		return state, err
	}
	return state, nil
}

func main() {
	cfg := config{}
	fs := flag.NewFlagSet("mesosgo-launch", flag.ExitOnError)
	fs.StringVar(&cfg.url, "url", "http://127.0.0.1:5050/api/v1/scheduler", "Mesos scheduler API URL")
	fs.IntVar(&cfg.tasks, "tasks", 10000, "tasks to launch")
	fs.Float64Var(&cfg.cpu, "cpu", 0.1, "cpus per task")
	fs.Float64Var(&cfg.mem, "mem", 32, "memory per task, MB")
	fs.StringVar(&cfg.role, "role", "tritium", "framework role")
	fs.StringVar(&cfg.prefix, "prefix", "mesos-go-e2e", "task id prefix")
	fs.DurationVar(&cfg.timeout, "timeout", 900*time.Second, "give up after this long")
	_ = fs.Parse(os.Args[1:])
	if cfg.tasks <= 0 || cfg.cpu <= 0 || cfg.mem <= 0 {
		log.Fatal("-tasks, -cpu and -mem must be positive")
	}

	tStart := time.Now()
	state, err := run(cfg)
	if err != nil {
		fmt.Printf("peer=mesos-go error=%q tasks=%d running=%d launched=%d\n",
			err.Error(), cfg.tasks, len(state.running), state.launched)
		os.Exit(1)
	}
	t0 := state.tSubscribed
	if t0.IsZero() {
		t0 = tStart
	}
	secs := state.tRunning.Sub(t0).Seconds()
	launched := state.tLaunched
	if launched.IsZero() {
		launched = state.tRunning
	}
	fmt.Printf("peer=mesos-go tasks=%d seconds_to_running=%.3f tasks_running_per_s=%.0f "+
		"seconds_to_launched=%.3f seconds_first_offer_to_running=%.3f seconds_from_start=%.3f "+
		"offers=%d accepts=%d declines=%d updates=%d\n",
		cfg.tasks, secs, float64(cfg.tasks)/secs,
		launched.Sub(t0).Seconds(),
		state.tRunning.Sub(state.tFirstOffer).Seconds(),
		state.tRunning.Sub(tStart).Seconds(),
		state.offers, state.accepts, state.declines, state.updates)
}
