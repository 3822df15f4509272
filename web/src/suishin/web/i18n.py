"""Words of the portal in Japanese (default) and English."""

from __future__ import annotations

from collections.abc import Callable

LANGUAGES = ("ja", "en")

MESSAGES: dict[str, tuple[str, str]] = {
    "app_name": ("推進ポータル", "Suishin portal"),
    "skip": ("本文へ移動", "Skip to main content"),
    "sign_in": ("サインイン", "Sign in"),
    "sign_out": ("サインアウト", "Sign out"),
    "signed_in_as": ("サインイン中", "Signed in as"),
    "dev_users": ("開発用: デモ利用者を選ぶ", "Development: pick a demo user"),
    "oidc_sign_in": ("組織アカウントでサインイン", "Sign in with your organisation account"),
    "no_sign_in": (
        "サインイン方法が設定されていません（SUISHIN_OIDC_ISSUER）。",
        "No sign-in is configured (SUISHIN_OIDC_ISSUER).",
    ),
    "plans": ("計画", "Plans"),
    "dashboard": ("計画ダッシュボード", "Plan dashboard"),
    "inbox": ("通知", "Inbox"),
    "settings": ("通知設定", "Notification settings"),
    "reporting": ("実績の報告", "Reporting"),
    "summary": ("本部 年度まとめ", "Yearly summary"),
    "public": ("公開ページ", "Public page"),
    "graphiql": ("GraphiQL", "GraphiQL"),
    "language": ("言語", "Language"),
    "filters": ("絞り込み", "Filters"),
    "department": ("所管課", "Department"),
    "status": ("ステータス", "Status"),
    "tag": ("タグ", "Tag"),
    "grade": ("評価", "Grade"),
    "year": ("年度", "Fiscal year"),
    "all": ("すべて", "All"),
    "apply": ("絞り込む", "Apply"),
    "grade_counts": ("評価集計", "Grades per year"),
    "total": ("計", "Total"),
    "owners": ("所管課", "Owners"),
    "lead": ("主", "lead"),
    "schedule": ("年度別計画", "Schedule"),
    "history": ("変更履歴", "History"),
    "indicators": ("指標", "Indicators"),
    "why_red": ("なぜこの状態か", "Why this status"),
    "grades": ("年度評価", "Yearly grades"),
    "targets": ("目標値", "Targets"),
    "revisions": ("目標値の改訂", "Target revisions"),
    "reports": ("報告と訂正", "Reports and corrections"),
    "actual": ("実績", "Actual"),
    "target": ("目標", "Target"),
    "value": ("値", "Value"),
    "period": ("期間", "Period"),
    "reason": ("理由", "Reason"),
    "comment": ("コメント", "Comment"),
    "correction": ("訂正", "Correction"),
    "current": ("現行", "current"),
    "superseded": ("置換済み", "superseded"),
    "when": ("日時", "When"),
    "who": ("担当", "Who"),
    "chart_alt": ("年度ごとの目標と実績", "Targets and actuals per fiscal year"),
    "acknowledge": ("確認済みにする", "Acknowledge"),
    "acknowledged": ("確認済み", "Acknowledged"),
    "unread": ("未読", "unread"),
    "live": ("新着を自動表示", "Live updates on"),
    "no_notifications": ("通知はありません。", "No notifications."),
    "email_enabled": ("メールでも受け取る", "Also by e-mail"),
    "cadence": ("メールの頻度", "E-mail cadence"),
    "cadence_IMMEDIATE": ("すぐに", "Immediately"),
    "cadence_DAILY": ("毎日まとめて", "Daily digest"),
    "cadence_WEEKLY": ("毎週まとめて", "Weekly digest"),
    "quiet_hours": (
        "夜間・休日は重大でないメールを控える",
        "Hold non-critical e-mail at night and on holidays",
    ),
    "save": ("保存", "Save"),
    "saved": ("保存しました。", "Saved."),
    "report_actual": ("実績を報告", "Report an actual"),
    "correct_actual": ("実績を訂正", "Correct an actual"),
    "send": ("送信", "Send"),
    "reported": ("受け付けました。", "Received."),
    "due": ("期限", "Due"),
    "overdue": ("期限超過", "Overdue"),
    "my_indicators": ("所管課が報告する指標", "Indicators my department reports"),
    "downloads": ("ダウンロード", "Downloads"),
    "xlsx": ("進捗状況一覧（Excel）", "Progress list (Excel)"),
    "pdf": ("本部会議資料（PDF）", "Report for the headquarters meeting (PDF)"),
    "off_track": ("未達・注意の指標", "Indicators off track or at risk"),
    "published_plans": ("公表されている計画", "Published plans"),
    "measures": ("施策", "Measures"),
    "not_found": ("見つかりません。", "Not found."),
    "forbidden": ("権限がありません。", "You are not allowed to do this."),
    "gateway_down": (
        "API に接続できません。しばらくしてから再度お試しください。",
        "The API cannot be reached. Please try again later.",
    ),
    "csrf": (
        "フォームの有効期限が切れました。もう一度送信してください。",
        "The form expired. Please send it again.",
    ),
    "required": ("入力してください。", "Required."),
    "open_graphiql": ("GraphiQL を開く（トークン入力済み）", "Open GraphiQL (token filled in)"),
    "back_to_plan": ("計画に戻る", "Back to the plan"),
    "measure_count": ("施策数", "Measures"),
    "period_years": ("計画期間", "Plan period"),
    "progress_reports": ("進捗報告", "Progress reports"),
    "report_queue": ("進捗報告の確認", "Report review"),
    "my_reports": ("所管課が報告する施策と期限", "What my department reports, and by when"),
    "report_state": ("報告の状態", "Report state"),
    "not_started": ("未作成", "Not started"),
    "write_report": ("報告を書く", "Write the report"),
    "open_report": ("報告を開く", "Open the report"),
    "report_of": ("進捗報告", "Progress report"),
    "results": ("実績", "Results"),
    "issues": ("課題", "Issues"),
    "direction": ("今後の方向性・改善策", "Direction and improvements"),
    "adherence": ("スケジュールの進み具合", "Schedule adherence"),
    "track": ("区分", "Track"),
    "planned": ("計画（年度）", "Planned for the year"),
    "note": ("補足", "Note"),
    "no_tracks": (
        "この年度の計画にスケジュールの記載はありません。",
        "The plan schedules nothing for this year.",
    ),
    "self_grade": ("自己評価", "Self-assessed grade"),
    "evidence_links": ("根拠資料", "Evidence"),
    "evidence": (
        "根拠資料のリンク（1行に1件: URL 表題）",
        "Evidence links (one a line: URL title)",
    ),
    "save_draft": ("下書きを保存", "Save the draft"),
    "save_submit": ("保存して提出", "Save and submit"),
    "submit": ("提出", "Submit"),
    "return_with_comment": ("コメントを付けて差し戻す", "Return with a comment"),
    "accept": ("受理する", "Accept"),
    "approve": ("承認する", "Approve"),
    "grade_override": ("評価（自己評価と変える場合）", "Grade (to override the self-assessment)"),
    "override_reason": ("評価を変える理由", "Why the grade is changed"),
    "publish": ("公表する", "Publish"),
    "returned_comment": ("事務局からの差戻しコメント", "The 事務局's comment (returned)"),
    "workflow": ("手続きの履歴", "Workflow history"),
    "from_to": ("状態", "State"),
    "version": ("版", "Version"),
    "done_saved": ("下書きを保存しました。", "The draft is saved."),
    "done_submit": ("提出しました。", "Submitted."),
    "done_return": ("差し戻しました。", "Returned."),
    "done_accept": ("受理しました。", "Accepted."),
    "done_approve": ("承認しました。", "Approved."),
    "done_publish": ("公表しました。", "Published."),
    "stale_note": (
        "入力内容はそのまま残っています。もう一度保存すると、最新の版に上書きします。",
        "What you typed is kept. Saving again writes it over the newest version.",
    ),
    "waiting_for_you": ("確認待ち", "Waiting for you"),
    "to_publish": ("承認済み・公表待ち", "Approved, waiting to be published"),
    "queue_empty": ("確認待ちの報告はありません。", "Nothing waits for you."),
    "submitted_at": ("提出日時", "Submitted"),
    "published_reports": ("公表された進捗報告", "Published progress reports"),
    "report_counts": ("進捗報告の状態別件数", "Progress reports per state"),
    "overdue_reports": ("期限を過ぎた進捗報告", "Overdue progress reports"),
    "none": ("なし", "None"),
    "open_Indicator": ("指標を開く", "Open the indicator"),
    "open_Measure": ("施策を開く", "Open the measure"),
    "open_Plan": ("計画を開く", "Open the plan"),
}


def translator(lang: str) -> Callable[[str], str]:
    index = 1 if lang == "en" else 0

    def t(key: str) -> str:
        pair = MESSAGES.get(key)
        return pair[index] if pair else key

    return t


STATUS_LABELS = {
    "ACHIEVED": ("達成", "Achieved"),
    "ON_TRACK": ("順調", "On track"),
    "AT_RISK": ("注意", "At risk"),
    "OFF_TRACK": ("未達", "Off track"),
    "NO_DATA": ("実績なし", "No data"),
    "STALE": ("更新なし", "Stale"),
}
REPORT_STATE = {
    "DRAFT": ("作成中", "Draft"),
    "SUBMITTED": ("提出済", "Submitted"),
    "RETURNED": ("差戻し", "Returned"),
    "ACCEPTED": ("受理", "Accepted"),
    "APPROVED": ("承認", "Approved"),
    "PUBLISHED": ("公表", "Published"),
    "SUPERSEDED": ("訂正により置換", "Superseded"),
}
ADHERENCE_LABELS = {
    "ON_SCHEDULE": ("予定どおり", "On schedule"),
    "AHEAD": ("前倒し", "Ahead"),
    "DELAYED": ("遅延", "Delayed"),
    "NOT_STARTED": ("未着手", "Not started"),
    "COMPLETED": ("完了", "Completed"),
    "CANCELLED": ("中止", "Cancelled"),
}
MEASURE_STATUS = {
    "NEW": ("新規", "New"),
    "CONTINUED": ("継続", "Continued"),
    "CHANGED": ("変更", "Changed"),
    "EXPANDED": ("拡充", "Expanded"),
    "COMPLETED": ("完了", "Completed"),
    "ABOLISHED": ("廃止", "Abolished"),
    "MERGED": ("統合", "Merged"),
}


def label(table: dict[str, tuple[str, str]], code: str | None, lang: str) -> str:
    if not code:
        return ""
    pair = table.get(code)
    return (pair[1] if lang == "en" else pair[0]) if pair else code
