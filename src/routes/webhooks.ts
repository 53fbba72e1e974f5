import { Hono } from "hono";
import type { AppEnv } from "../http/types";

export const webhookRoutes = new Hono<AppEnv>();
