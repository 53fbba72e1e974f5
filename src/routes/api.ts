import { Hono } from "hono";
import type { AppEnv } from "../http/types";

export const apiRoutes = new Hono<AppEnv>();
