package a2a

import (
	"encoding/json"
	"fmt"
)

// JSON-RPC method names: v1.0 (a2a.proto service A2AService, JSON-RPC
// binding) and the v0.3 names they replace.
const (
	MethodSendMessage          = "SendMessage"
	MethodSendStreamingMessage = "SendStreamingMessage"
	MethodGetTask              = "GetTask"
	MethodListTasks            = "ListTasks"
	MethodCancelTask           = "CancelTask"
	MethodSubscribeToTask      = "SubscribeToTask"
	MethodCreatePushConfig     = "CreateTaskPushNotificationConfig"
	MethodGetPushConfig        = "GetTaskPushNotificationConfig"
	MethodListPushConfigs      = "ListTaskPushNotificationConfigs"
	MethodDeletePushConfig     = "DeleteTaskPushNotificationConfig"
	MethodGetExtendedAgentCard = "GetExtendedAgentCard"

	LegacyMethodSendMessage          = "message/send"
	LegacyMethodSendStreamingMessage = "message/stream"
	LegacyMethodGetTask              = "tasks/get"
	LegacyMethodListTasks            = "tasks/list"
	LegacyMethodCancelTask           = "tasks/cancel"
	LegacyMethodSubscribeToTask      = "tasks/resubscribe"
	LegacyMethodSetPushConfig        = "tasks/pushNotificationConfig/set"
	LegacyMethodGetPushConfig        = "tasks/pushNotificationConfig/get"
	LegacyMethodListPushConfigs      = "tasks/pushNotificationConfig/list"
	LegacyMethodDeletePushConfig     = "tasks/pushNotificationConfig/delete"
	LegacyMethodGetExtendedAgentCard = "agent/getAuthenticatedExtendedCard"
)

// legacyMethods maps each v0.3 method to its v1.0 name.
var legacyMethods = map[string]string{
	LegacyMethodSendMessage:          MethodSendMessage,
	LegacyMethodSendStreamingMessage: MethodSendStreamingMessage,
	LegacyMethodGetTask:              MethodGetTask,
	LegacyMethodListTasks:            MethodListTasks,
	LegacyMethodCancelTask:           MethodCancelTask,
	LegacyMethodSubscribeToTask:      MethodSubscribeToTask,
	LegacyMethodSetPushConfig:        MethodCreatePushConfig,
	LegacyMethodGetPushConfig:        MethodGetPushConfig,
	LegacyMethodListPushConfigs:      MethodListPushConfigs,
	LegacyMethodDeletePushConfig:     MethodDeletePushConfig,
	LegacyMethodGetExtendedAgentCard: MethodGetExtendedAgentCard,
}

// legacyName returns the v0.3 name of a v1.0 method.
func legacyName(method string) string {
	for legacy, current := range legacyMethods {
		if current == method {
			return legacy
		}
	}
	return method
}

// JSON-RPC 2.0 error codes, and the A2A ones (specification §5.4 error code
// mappings).
const (
	CodeParseError     = -32700
	CodeInvalidRequest = -32600
	CodeMethodNotFound = -32601
	CodeInvalidParams  = -32602
	CodeInternalError  = -32603

	CodeTaskNotFound                   = -32001
	CodeTaskNotCancelable              = -32002
	CodePushNotificationNotSupported   = -32003
	CodeUnsupportedOperation           = -32004
	CodeContentTypeNotSupported        = -32005
	CodeInvalidAgentResponse           = -32006
	CodeExtendedAgentCardNotConfigured = -32007
	CodeExtensionSupportRequired       = -32008
	CodeVersionNotSupported            = -32009
)

// Error is a JSON-RPC error object. Errors compare equal under errors.Is
// when their codes are equal, so the sentinels below match both errors a
// Backend returns and errors a peer sent.
type Error struct {
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data,omitempty"`
}

func (e *Error) Error() string { return e.Message }

// Is matches any *Error with the same code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Sentinel errors, one per code. A Backend wraps them (fmt.Errorf("task %s:
// %w", id, a2a.ErrTaskNotFound)) to choose the code its failure is answered
// with; the message sent is the whole wrapped error's text.
var (
	ErrParse                          = &Error{Code: CodeParseError, Message: "parse error"}
	ErrInvalidRequest                 = &Error{Code: CodeInvalidRequest, Message: "invalid request"}
	ErrMethodNotFound                 = &Error{Code: CodeMethodNotFound, Message: "method not found"}
	ErrInvalidParams                  = &Error{Code: CodeInvalidParams, Message: "invalid params"}
	ErrInternal                       = &Error{Code: CodeInternalError, Message: "internal error"}
	ErrTaskNotFound                   = &Error{Code: CodeTaskNotFound, Message: "task not found"}
	ErrTaskNotCancelable              = &Error{Code: CodeTaskNotCancelable, Message: "task cannot be canceled"}
	ErrPushNotificationNotSupported   = &Error{Code: CodePushNotificationNotSupported, Message: "push notifications are not supported"}
	ErrUnsupportedOperation           = &Error{Code: CodeUnsupportedOperation, Message: "operation not supported"}
	ErrContentTypeNotSupported        = &Error{Code: CodeContentTypeNotSupported, Message: "content type not supported"}
	ErrInvalidAgentResponse           = &Error{Code: CodeInvalidAgentResponse, Message: "invalid agent response"}
	ErrExtendedAgentCardNotConfigured = &Error{Code: CodeExtendedAgentCardNotConfigured, Message: "extended agent card not configured"}
	ErrExtensionSupportRequired       = &Error{Code: CodeExtensionSupportRequired, Message: "extension support required"}
	ErrVersionNotSupported            = &Error{Code: CodeVersionNotSupported, Message: "A2A version not supported"}
)

// errorf wraps a sentinel with a message of its own.
func errorf(sentinel *Error, format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), sentinel)
}

// rpcRequest is a JSON-RPC 2.0 request as a client sends it.
type rpcRequest struct {
	JSONRPC string `json:"jsonrpc"`
	ID      string `json:"id"`
	Method  string `json:"method"`
	Params  any    `json:"params,omitempty"`
}

// rpcResponse is a JSON-RPC 2.0 response. ID is kept raw so that a server
// echoes the request's ID exactly (string, number or null).
type rpcResponse struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   *Error          `json:"error,omitempty"`
}

// nullID is the ID of responses to requests whose ID could not be read.
var nullID = json.RawMessage("null")
