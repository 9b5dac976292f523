// OperatorService.CreateUiLogin: a login code for the caller, and the URL on this master's
// HTTP port that trades it for a session (`yardctl ui`). The URL names the leader's HTTP
// address as GetMasters does, so it works from wherever the operator reached the master.
import { FailedPreconditionError } from "../../common/errors.js";
import type { Principal } from "../../common/principal.js";
import type { GetMastersResponse, UiLogin } from "../../proto/gen/yard/v1/operator.js";
import type { UiSessions } from "./ui-sessions.js";

export type UiLoginMinter = (principal: Principal) => UiLogin;

export function uiLoginMinter(
  sessions: UiSessions,
  masters: () => GetMastersResponse,
  scheme: "http" | "https",
): UiLoginMinter {
  return (principal) => {
    const view = masters();
    const self = view.masters.find((m) => m.address === view.leader) ?? view.masters[0];
    if (!self?.httpAddress)
      throw new FailedPreconditionError(
        "this master does not know its HTTP address, so it cannot serve the UI",
      );
    const { code, expiresAtMs } = sessions.mintCode(principal);
    return {
      code,
      expiresAt: expiresAtMs / 1000,
      url: `${scheme}://${self.httpAddress}/ui/login?code=${encodeURIComponent(code)}`,
    };
  };
}
