package controller

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/actions/scaleset"
)

// scaleSetServer speaks enough of GitHub's scale set protocol for the real
// scaleset client and listener: registration token, admin connection, runner
// groups, scale sets, message sessions and queue, job acquisition, JIT
// configs, runner lookup and removal, and the REST runner list.
type scaleSetServer struct {
	*httptest.Server
	mu         sync.Mutex
	sets       map[int]*scaleset.RunnerScaleSet
	runners    map[string]*serverRunner
	nextRunner int64
	messages   chan serverMessage
	nextMsg    int
	acked      []int
	acquired   []int64
	sessions   int
	removed    []string
}

// serverRunner is a registration the protocol server holds.
type serverRunner struct {
	id     int64
	name   string
	online bool
	job    string
}

type serverMessage struct {
	stats scaleset.RunnerScaleSetStatistic
	body  []any
}

func newScaleSetServer(tb testing.TB) *scaleSetServer {
	s := &scaleSetServer{sets: map[int]*scaleset.RunnerScaleSet{}, runners: map[string]*serverRunner{}, messages: make(chan serverMessage, 1024)}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	tb.Cleanup(s.Close)
	return s
}

func (s *scaleSetServer) repoURL() string { return s.URL + "/o/r" }

// send queues a message for the listener.
func (s *scaleSetServer) send(assigned int, body ...any) {
	s.messages <- serverMessage{stats: scaleset.RunnerScaleSetStatistic{TotalAssignedJobs: assigned}, body: body}
}

func fakeJWT() string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc(fmt.Appendf(nil, `{"exp":%d}`, time.Now().Add(time.Hour).Unix())) + ".c2ln"
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *scaleSetServer) serve(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	q := r.URL.Query()
	switch {
	case r.Method == http.MethodPost && p == "/api/v3/repos/o/r/actions/runners/registration-token":
		writeJSON(w, http.StatusCreated, map[string]any{"token": "registration", "expires_at": time.Now().Add(time.Hour)})
	case r.Method == http.MethodPost && p == "/api/v3/actions/runner-registration":
		writeJSON(w, http.StatusOK, map[string]any{"url": s.URL + "/tenant/", "token": fakeJWT()})
	case r.Method == http.MethodGet && p == "/api/v3/repos/o/r/actions/runners":
		s.mu.Lock()
		var list []map[string]any
		for _, rr := range s.runners {
			status := "offline"
			if rr.online {
				status = "online"
			}
			list = append(list, map[string]any{"id": rr.id, "name": rr.name, "status": status, "busy": rr.job != ""})
		}
		s.mu.Unlock()
		w.Header().Set("X-RateLimit-Limit", "5000")
		w.Header().Set("X-RateLimit-Remaining", "4999")
		writeJSON(w, http.StatusOK, map[string]any{"total_count": len(list), "runners": list})
	case strings.HasPrefix(p, "/tenant/_apis/runtime/runnergroups"):
		writeJSON(w, http.StatusOK, map[string]any{"count": 1, "value": []any{map[string]any{"id": 7, "name": q.Get("groupName")}}})
	case p == "/tenant/_apis/runtime/runnerscalesets" && r.Method == http.MethodGet:
		s.mu.Lock()
		var found []any
		for _, set := range s.sets {
			if set.Name == q.Get("name") {
				found = append(found, set)
			}
		}
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"count": len(found), "value": found})
	case p == "/tenant/_apis/runtime/runnerscalesets" && r.Method == http.MethodPost:
		var set scaleset.RunnerScaleSet
		_ = json.NewDecoder(r.Body).Decode(&set)
		s.mu.Lock()
		set.ID = len(s.sets) + 1
		s.sets[set.ID] = &set
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, set)
	case strings.HasPrefix(p, "/tenant/_apis/runtime/runnerscalesets/"):
		s.scaleSetPath(w, r, strings.Split(strings.TrimPrefix(p, "/tenant/_apis/runtime/runnerscalesets/"), "/"))
	case p == "/tenant/_apis/distributedtask/pools/0/agents" && r.Method == http.MethodGet:
		s.mu.Lock()
		var found []any
		if rr := s.runners[q.Get("agentName")]; rr != nil {
			found = append(found, scaleset.RunnerReference{ID: int(rr.id), Name: rr.name})
		}
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"count": len(found), "value": found})
	case strings.HasPrefix(p, "/tenant/_apis/distributedtask/pools/0/agents/") && r.Method == http.MethodDelete:
		id, _ := strconv.ParseInt(strings.TrimPrefix(p, "/tenant/_apis/distributedtask/pools/0/agents/"), 10, 64)
		s.mu.Lock()
		defer s.mu.Unlock()
		for name, rr := range s.runners {
			if rr.id == id {
				if rr.job != "" {
					writeJSON(w, http.StatusBadRequest, map[string]any{"typeName": "JobStillRunningException", "message": "job running"})
					return
				}
				delete(s.runners, name)
				s.removed = append(s.removed, name)
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		writeJSON(w, http.StatusNotFound, map[string]any{"typeName": "AgentNotFoundException", "message": "no such runner"})
	case p == "/queue" && r.Method == http.MethodGet:
		select {
		case m := <-s.messages:
			s.mu.Lock()
			s.nextMsg++
			id := s.nextMsg
			s.mu.Unlock()
			body, _ := json.Marshal(m.body)
			writeJSON(w, http.StatusOK, map[string]any{"messageId": id, "messageType": "RunnerScaleSetJobMessages", "body": string(body), "statistics": m.stats})
		case <-time.After(50 * time.Millisecond):
			w.WriteHeader(http.StatusAccepted)
		case <-r.Context().Done():
		}
	case strings.HasPrefix(p, "/queue/") && r.Method == http.MethodDelete:
		id, _ := strconv.Atoi(strings.TrimPrefix(p, "/queue/"))
		s.mu.Lock()
		s.acked = append(s.acked, id)
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	default:
		writeJSON(w, http.StatusNotFound, map[string]any{"typeName": "NotFound", "message": r.Method + " " + p})
	}
}

func (s *scaleSetServer) scaleSetPath(w http.ResponseWriter, r *http.Request, parts []string) {
	switch {
	case len(parts) == 2 && parts[1] == "sessions" && r.Method == http.MethodPost:
		s.mu.Lock()
		s.sessions++
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{
			"sessionId": "6f1c0e4e-0000-4000-8000-000000000001", "ownerName": "test",
			"messageQueueUrl": s.URL + "/queue", "messageQueueAccessToken": "queue-token",
			"statistics": scaleset.RunnerScaleSetStatistic{},
		})
	case len(parts) == 3 && parts[1] == "sessions" && r.Method == http.MethodDelete:
		w.WriteHeader(http.StatusNoContent)
	case len(parts) == 2 && parts[1] == "acquirejobs":
		var ids []int64
		_ = json.NewDecoder(r.Body).Decode(&ids)
		s.mu.Lock()
		s.acquired = append(s.acquired, ids...)
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"count": len(ids), "value": ids})
	case len(parts) == 2 && parts[1] == "generatejitconfig":
		var setting scaleset.RunnerScaleSetJitRunnerSetting
		_ = json.NewDecoder(r.Body).Decode(&setting)
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.runners[setting.Name] != nil {
			writeJSON(w, http.StatusConflict, map[string]any{"typeName": "AgentExistsException", "message": "runner exists"})
			return
		}
		s.nextRunner++
		s.runners[setting.Name] = &serverRunner{id: s.nextRunner, name: setting.Name}
		writeJSON(w, http.StatusOK, scaleset.RunnerScaleSetJitRunnerConfig{Runner: &scaleset.RunnerReference{ID: int(s.nextRunner), Name: setting.Name}, EncodedJITConfig: "jit-" + setting.Name})
	case len(parts) == 1 && r.Method == http.MethodPatch:
		id, _ := strconv.Atoi(parts[0])
		var set scaleset.RunnerScaleSet
		_ = json.NewDecoder(r.Body).Decode(&set)
		set.ID = id
		s.mu.Lock()
		s.sets[id] = &set
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, set)
	default:
		writeJSON(w, http.StatusNotFound, map[string]any{"typeName": "NotFound", "message": "unknown scale set path"})
	}
}

func (s *scaleSetServer) setRunner(name string, fn func(*serverRunner)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.runners[name]; r != nil {
		fn(r)
	}
}
