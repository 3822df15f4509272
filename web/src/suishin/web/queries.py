"""The GraphQL documents the portal sends to the gateway (one per page where possible)."""

# The tree's skeleton (three levels reach every measure of the reference plans; sub-items are
# not shown) and, in the same request, the measures with their owners, tags and grades: the
# gateway's cost budget counts lists × nesting, so details come once per measure, not per level.
NODE_FIELDS = "id code title kind levelLabel depth status measure { id }"

PLAN_TREE = """
query PlanTree($id: ID!, $after: String) {
  plan(id: $id) {
    id tenant key title kind state fiscalYearFrom fiscalYearTo phase levelLabels measureCount
    publishedOn yearStyle defaultOwner
    tags { code label }
    gradeScale { code name grades { code label isFailing } }
    nodes { __NODE__ children { __NODE__ children { __NODE__ } } }
  }
  measures(planId: $id, first: 200, after: $after) {
    pageInfo { hasNextPage endCursor }
    edges { node { ...MeasureDetails } }
  }
}
fragment MeasureDetails on Measure {
  id status statusLabel tags
  owners { departmentCode departmentName isLead }
  grades { fiscalYear grade label isFailing publishedGrade publishedLabel }
}
""".replace("__NODE__", NODE_FIELDS)

MORE_MEASURES = """
query MoreMeasures($id: ID!, $after: String) {
  measures(planId: $id, first: 200, after: $after) {
    pageInfo { hasNextPage endCursor }
    edges { node { ...MeasureDetails } }
  }
}
fragment MeasureDetails on Measure {
  id status statusLabel tags
  owners { departmentCode departmentName isLead }
  grades { fiscalYear grade label isFailing publishedGrade publishedLabel }
}
"""

PUBLIC_PLANS = """
query PublicPlans($tenant: String!) { plans(tenant: $tenant) { id key title state } }
"""

ME = "query Me { me { subject tenant roles departments posts name } }"

PLANS = """
query Plans { plans { id key title kind state fiscalYearFrom fiscalYearTo measureCount } }
"""

MEASURE = """
query Measure($id: ID!) {
  measure(id: $id) {
    id tenant planId path code title description status statusLabel levelLabel othersText tags
    plan { id key title levelLabels fiscalYearFrom fiscalYearTo }
    owners { departmentCode departmentName isLead }
    schedule { fiscalYear label phase track }
    history { field previous value fromStatus toStatus changedBy reason source changedAt }
    grades { fiscalYear grade label isFailing machineLabel machineReason publishedLabel
             overrideLabel overrideReason consecutiveFailingYears }
    indicators {
      id key title unit
      status { fiscalYear status statusLabel reason }
      series { fiscalYear period label actual
               target { value printed text }
               status { status statusLabel reason } }
    }
    progressReports {
      id period version state stateLabel results issues direction selfAssessedGrade gradeLabel
      updatedAt publishedAt
      adherence { track planned label note }
      transitions { reportVersion fromState toState actor comment at }
    }
  }
}
"""

INDICATOR = """
query Indicator($id: ID!) {
  indicator(id: $id) {
    id key title description unit polarity aggregation cadence reportLagDays
    ownerDepartments measureIds planKey qualitative
    baseline { value text period }
    status { fiscalYear status statusLabel reason figures { dueDate overduePeriod } }
    series { fiscalYear period label actual
             target { value printed text }
             status { status statusLabel reason } }
    targets { fiscalYear fromFiscalYear value comparator text printed revision }
    targetHistory { fiscalYear fromFiscalYear value text printed revision reason revisedBy
                    validFrom supersededAt isCurrent }
    measurements { id period value textValue unit source reportedBy comment isCorrection
                   occurredAt receivedAt isCurrent via }
    subSeries { id key title }
  }
}
"""

INBOX = """
query Inbox {
  unreadCount
  myInbox(first: 50) {
    edges { node { id kind severity title body link period createdAt read acknowledgedAt
                   acknowledgementComment requiresAcknowledgement } }
  }
}
"""

ACKNOWLEDGE = """
mutation Ack($id: ID!, $comment: String) {
  acknowledge(notificationId: $id, comment: $comment) {
    notification { id acknowledgedAt }
    errors { code message messageEn field }
  }
}
"""

MARK_READ = """
mutation Read($ids: [ID!]!) { markRead(notificationIds: $ids) { unreadCount errors { code } } }
"""

LIVE_INBOX = """
subscription Live { notificationReceived { id kind severity title body link occurredAt } }
"""

PREFERENCES = """
query Prefs {
  myPreferences { emailEnabled cadence mutedKinds respectQuietHours language inDirectory }
}
"""

UPDATE_PREFERENCES = """
mutation UpdatePrefs($input: PreferencesInput!) {
  updateMyPreferences(input: $input) {
    preferences { emailEnabled cadence mutedKinds respectQuietHours language inDirectory }
    errors { code message messageEn field }
  }
}
"""

MY_INDICATORS = """
query MyIndicators($department: String!) {
  indicators(filter: { department: $department }, first: 200) {
    edges { node {
      id key title unit cadence reportLagDays granularity periodStart periodEnd qualitative
      status { fiscalYear status statusLabel reason figures { dueDate overduePeriod } }
      measurements(includeSuperseded: false) { period value textValue }
    } }
  }
}
"""

REPORT_ACTUAL = """
mutation Report($input: ReportActualInput!) {
  reportActual(input: $input) {
    measurement { id period value }
    status { status statusLabel reason }
    duplicate
    errors { code message messageEn field }
  }
}
"""

CORRECT_ACTUAL = """
mutation Correct($input: CorrectActualInput!) {
  correctActual(input: $input) {
    measurement { id period value }
    status { status statusLabel reason }
    duplicate
    errors { code message messageEn field }
  }
}
"""

# The 本部 summary and the PDF: a plan with grades, and its off-track or overdue indicators.
PLAN_INDICATORS = """
query PlanIndicators($planId: ID!) {
  indicators(filter: { planId: $planId }, first: 200) {
    edges { node {
      id key title unit ownerDepartments
      status { fiscalYear status statusLabel reason figures { dueDate overduePeriod } }
    } }
  }
}
"""

# The 進捗状況一覧: the plan's measures with schedule, indicator inputs and grades.
PROGRESS = """
query Progress($planId: ID!, $after: String) {
  measures(planId: $planId, first: 200, after: $after) {
    pageInfo { hasNextPage endCursor }
    edges { node {
      id code title status othersText path levelLabel
      owners { departmentName isLead }
      reportingOwners { shown isPlanDefault }
      frameworks { framework item }
      schedule { fiscalYear label track }
      indicatorInputs { title fiscalYear status exceeded }
      grades { fiscalYear grade label isFailing machineGrade machineLabel overrideGrade
               publishedGrade }
      progressReports { period version state results issues direction
                        adherence { track label note } }
    } }
  }
}
"""

DEPARTMENTS = "query Departments { departments { code name kind } }"

# --- progress reports (進捗報告) -------------------------------------------------------------

REPORT_FIELDS = """
fragment ReportFields on ProgressReport {
  id period fiscalYear isInterim version state stateLabel revision results issues direction
  selfAssessedGrade grade gradeLabel gradeReason createdBy createdAt updatedAt submittedAt
  publishedAt
  adherence { track planned adherence label note }
  evidence { url title }
  transitions { reportVersion fromState toState actor comment at }
}
"""

# What a 所管課 reports: the measures its department answers for (its own 所管課, an
# ancestor's, or the plan's default owner: `reportingDepartment`), with their reports' states.
MY_MEASURES = """
query MyMeasures($planId: ID!, $department: String!) {
  measures(planId: $planId, filter: { reportingDepartment: $department }, first: 200) {
    edges { node {
      id code title path
      owners { departmentCode departmentName isLead }
      reportingOwners { shown isPlanDefault }
      progressReports { id period version state stateLabel updatedAt }
    } }
  }
}
"""

REPORT_DEADLINES = "query Deadlines { reportDeadlines { period dueOn reminderDays } }"

# The 事務局's deadline page: every deadline of the ward, with who set it and when.
DEADLINES_PAGE = "query DeadlinesPage { reportDeadlines { period dueOn reminderDays setBy setAt } }"

SET_DEADLINE = """
mutation SetDeadline($period: String!, $dueOn: Date!, $reminderDays: [Int!]) {
  setReportDeadline(period: $period, dueOn: $dueOn, reminderDays: $reminderDays) {
    deadline { period dueOn reminderDays }
    errors { code message messageEn field }
  }
}
"""

# The report page: the measure, its schedule, the period's report and every version.
PROGRESS_REPORT = (
    """
query ProgressReportPage($id: ID!, $period: String!) {
  measure(id: $id) {
    id tenant code title path planId
    plan { id key title fiscalYearFrom fiscalYearTo
           gradeScale { code name grades { code label isFailing } } }
    owners { departmentCode departmentName isLead }
    reportingOwners { departmentCodes isPlanDefault shown }
    schedule { fiscalYear label phase track }
    currentReport(period: $period) { ...ReportFields }
    progressReports(period: $period) { ...ReportFields }
  }
  reportDeadlines { period dueOn }
}
"""
    + REPORT_FIELDS
)

REPORT_QUEUE = """
query ReportQueue {
  progressReportQueue(first: 200) {
    id period version state stateLabel selfAssessedGrade submittedAt updatedAt
    measure { id code title owners { departmentName isLead } }
  }
}
"""

# The public page: what the ward has published (no token).
PUBLISHED_REPORTS = """
query PublishedReports($tenant: String!) {
  publishedProgressReports(tenant: $tenant) {
    id period version results issues direction gradeLabel publishedAt
    adherence { track planned label note }
    evidence { url title }
    measure { id code title path plan { key title } }
  }
}
"""

# The 本部 summary and the PDF: every measure's reports (states per period).
REPORT_STATES = """
query ReportStates($planId: ID!, $after: String) {
  measures(planId: $planId, first: 200, after: $after) {
    pageInfo { hasNextPage endCursor }
    edges { node {
      id code title
      owners { departmentName isLead }
      progressReports { period version state }
    } }
  }
  reportDeadlines { period dueOn }
}
"""

_STEP_RESULT = (
    "report { id state stateLabel revision version } errors { code message messageEn field }"
)

SAVE_REPORT = f"""
mutation SaveReport($input: SaveProgressReportInput!) {{
  saveProgressReport(input: $input) {{ {_STEP_RESULT} }}
}}
"""

SUBMIT_REPORT = f"""
mutation SubmitReport($measureId: ID!, $period: String!, $revision: Int) {{
  submitProgressReport(measureId: $measureId, period: $period, expectedRevision: $revision) {{
    {_STEP_RESULT}
  }}
}}
"""

RETURN_REPORT = f"""
mutation ReturnReport($measureId: ID!, $period: String!, $comment: String, $revision: Int) {{
  returnProgressReport(
    measureId: $measureId, period: $period, comment: $comment, expectedRevision: $revision
  ) {{ {_STEP_RESULT} }}
}}
"""

ACCEPT_REPORT = f"""
mutation AcceptReport($measureId: ID!, $period: String!, $comment: String, $revision: Int) {{
  acceptProgressReport(
    measureId: $measureId, period: $period, comment: $comment, expectedRevision: $revision
  ) {{ {_STEP_RESULT} }}
}}
"""

APPROVE_REPORT = f"""
mutation ApproveReport(
  $measureId: ID!, $period: String!, $grade: String, $reason: String, $revision: Int
) {{
  approveProgressReport(
    measureId: $measureId, period: $period, grade: $grade, reason: $reason,
    expectedRevision: $revision
  ) {{ {_STEP_RESULT} }}
}}
"""

CORRECT_REPORT = f"""
mutation CorrectReport($measureId: ID!, $period: String!, $reason: String!) {{
  correctPublishedReport(measureId: $measureId, period: $period, reason: $reason) {{
    {_STEP_RESULT}
  }}
}}
"""

PUBLISH_REPORT = f"""
mutation PublishReport($measureId: ID!, $period: String!, $revision: Int) {{
  publishProgressReport(measureId: $measureId, period: $period, expectedRevision: $revision) {{
    {_STEP_RESULT}
  }}
}}
"""
