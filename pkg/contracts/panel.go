package contracts

// PanelProvider is implemented by modules that want a panel of their own on
// the local status page. A panel is data, not markup: it names one of the
// module's read actions (an [ActionSpec] served next to the runtime's
// actions), which columns of that action's rows to show, and which of the
// module's actions a person may run on a row. The control plane serves the
// descriptors through its "panels" action; the page renders them and calls
// the actions through the same doors, authentication and audit as any
// other client, so a panel adds no access the actions do not already give.
type PanelProvider interface {
	Panels() []Panel
}

// Panel describes one table of a module's rows.
type Panel struct {
	// ID is unique among the deployment's panels (conventionally
	// "module.name"); the page uses it for element ids.
	ID string `json:"id"`
	// Title heads the panel.
	Title string `json:"title"`
	// Description is one optional line under the title.
	Description string `json:"description,omitempty"`
	// Action is the read action that returns the rows; Params are passed
	// to it as its request object.
	Action string         `json:"action"`
	Params map[string]any `json:"params,omitempty"`
	// Rows is the field of the action's result that holds the array of
	// rows (JSON objects); "" means the result itself is the array.
	Rows string `json:"rows,omitempty"`
	// Key is the row field that identifies a row (kept across updates).
	Key string `json:"key"`
	// Columns are shown in this order.
	Columns []PanelColumn `json:"columns"`
	// RowActions are buttons on each row.
	RowActions []PanelRowAction `json:"row_actions,omitempty"`
	// Empty is shown when there are no rows.
	Empty string `json:"empty,omitempty"`
}

// PanelColumn is one column of a panel.
type PanelColumn struct {
	// Field is the row field shown.
	Field string `json:"field"`
	// Label heads the column.
	Label string `json:"label"`
	// Format is how the value is shown: "text" (default), "number"
	// (right-aligned), "time" (an RFC 3339 time, shown in the viewer's
	// time zone), "list" (an array of strings, joined) or "state" (a short
	// word, shown as a badge).
	Format string `json:"format,omitempty"`
	// Tones colour a "state" column's values: value → "good", "warn",
	// "bad" or "muted"; others are shown plain.
	Tones map[string]string `json:"tones,omitempty"`
}

// Panel column formats.
const (
	PanelText   = "text"
	PanelNumber = "number"
	PanelTime   = "time"
	PanelList   = "list"
	PanelState  = "state"
)

// PanelRowAction is a button that runs an action on one row.
type PanelRowAction struct {
	// Label is the button's text.
	Label string `json:"label"`
	// Action is the action called; its request object is Fixed, plus
	// FromRow (request field → row field), plus the Input's value.
	Action  string            `json:"action"`
	Fixed   map[string]any    `json:"fixed,omitempty"`
	FromRow map[string]string `json:"from_row,omitempty"`
	// Input, when set, asks the person for one text value first (a
	// reason); the action is not called without it when Required.
	Input *PanelInput `json:"input,omitempty"`
	// When shows the button only on rows whose field has one of the
	// values (field → accepted values); empty: on every row.
	When map[string][]string `json:"when,omitempty"`
	// Confirm, when set, is asked before the action runs.
	Confirm string `json:"confirm,omitempty"`
}

// PanelInput is a value a person types before a row action runs.
type PanelInput struct {
	// Param is the request field the value goes to.
	Param string `json:"param"`
	// Label says what to type.
	Label    string `json:"label"`
	Required bool   `json:"required,omitempty"`
}
