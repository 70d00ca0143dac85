package api

import (
	"errors"
	"net/http"

	"esmon/core/apiv1"
	"esmon/core/enrol"
	"esmon/core/wire"
)

// Enrolment is how the API manages agents: join codes, enrolment and
// revocation. The core implements it over package enrol and the agent hub.
type Enrolment interface {
	Agents() []apiv1.Agent
	// RevokeAgent revokes the agent and closes its connection; false for
	// an unknown id.
	RevokeAgent(id string) (bool, error)
	JoinCodes() []apiv1.JoinCode
	CreateJoinCode(req apiv1.NewJoinCode) (apiv1.CreatedJoinCode, error)
	// RevokeJoinCode stops a code from enrolling more agents; false for an
	// unknown id.
	RevokeJoinCode(id string) (bool, error)
	Enrol(req wire.EnrolRequest, remote string) (wire.EnrolResponse, error)
}

// agentRoutes registers the agent endpoints: admin ones through admin, and
// the agents' own enrolment, which the join secret alone authenticates.
func (s *server) agentRoutes(admin, open func(string, http.HandlerFunc)) {
	if s.Enrolment == nil {
		return
	}
	admin("GET /api/v1/agents", s.listAgents)
	admin("POST /api/v1/agents/{id}/revoke", s.revokeAgent)
	admin("GET /api/v1/join-codes", s.listJoinCodes)
	admin("POST /api/v1/join-codes", s.createJoinCode)
	admin("DELETE /api/v1/join-codes/{id}", s.deleteJoinCode)
	open("POST "+wire.EnrolPath, s.enrol)
}

func (s *server) listAgents(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.Enrolment.Agents())
}

func (s *server) revokeAgent(w http.ResponseWriter, r *http.Request) {
	ok, err := s.Enrolment.RevokeAgent(r.PathValue("id"))
	switch {
	case err != nil:
		s.internal(w, "revoke agent", err)
	case !ok:
		writeError(w, http.StatusNotFound, "not_found", "no such agent")
	default:
		s.Log.Info("agent revoked through the API", "agent_id", r.PathValue("id"), "by", Actor(r.Context()))
		w.WriteHeader(http.StatusNoContent)
	}
}

func (s *server) listJoinCodes(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.Enrolment.JoinCodes())
}

func (s *server) createJoinCode(w http.ResponseWriter, r *http.Request) {
	var req apiv1.NewJoinCode
	if !readJSON(w, r, &req) {
		return
	}
	out, err := s.Enrolment.CreateJoinCode(req)
	switch {
	case errors.Is(err, enrol.ErrInvalid):
		writeError(w, http.StatusBadRequest, "invalid", err.Error())
	case err != nil:
		s.internal(w, "create join code", err)
	default:
		writeJSON(w, http.StatusCreated, out)
	}
}

func (s *server) deleteJoinCode(w http.ResponseWriter, r *http.Request) {
	ok, err := s.Enrolment.RevokeJoinCode(r.PathValue("id"))
	switch {
	case err != nil:
		s.internal(w, "revoke join code", err)
	case !ok:
		writeError(w, http.StatusNotFound, "not_found", "no such join code")
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

// enrolStatus is the HTTP status of each enrolment refusal.
var enrolStatus = map[string]int{
	wire.EnrolRefusedUnknown: http.StatusUnauthorized,
	wire.EnrolRefusedExpired: http.StatusForbidden,
	wire.EnrolRefusedUsedUp:  http.StatusForbidden,
	wire.EnrolRefusedRevoked: http.StatusForbidden,
	wire.EnrolRefusedInvalid: http.StatusBadRequest,
}

func (s *server) enrol(w http.ResponseWriter, r *http.Request) {
	var req wire.EnrolRequest
	if !readJSON(w, r, &req) {
		return
	}
	out, err := s.Enrolment.Enrol(req, r.RemoteAddr)
	var ref *enrol.Refusal
	switch {
	case errors.As(err, &ref):
		writeError(w, enrolStatus[ref.Code], ref.Code, ref.Msg)
	case err != nil:
		s.internal(w, "enrol agent", err)
	default:
		writeJSON(w, http.StatusOK, out)
	}
}
